"""Typed client of imaged: callers never touch protos."""

from __future__ import annotations

import grpc

from dockyard.imaged.v1 import imaged_pb2, imaged_pb2_grpc
from services.common.grpc_client import DEFAULT_TIMEOUT, call
from services.imaged.storeinfo import StoreInfo


class ImagesClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._stub = imaged_pb2_grpc.ImagesStub(channel)
        self._timeout = timeout

    async def get_store_info(self) -> StoreInfo:
        response: imaged_pb2.GetStoreInfoResponse = await call(
            lambda: self._stub.GetStoreInfo(
                imaged_pb2.GetStoreInfoRequest(), timeout=self._timeout
            )
        )
        return StoreInfo(
            driver=response.driver,
            driver_status=tuple((kv.key, kv.value) for kv in response.driver_status),
            image_count=response.image_count,
            data_root=response.data_root,
        )
