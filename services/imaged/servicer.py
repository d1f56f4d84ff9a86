"""gRPC shell of imaged: converts between protos and the domain modules."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import grpc

from dockyard.imaged.v1 import imaged_pb2, imaged_pb2_grpc
from dockyard.types.v1 import types_pb2
from services.common.etcd_store import Store
from services.common.grpc_errors import Context
from services.common.grpc_server import ServiceContext
from services.imaged.storeinfo import overlay2_status

IMAGES_PREFIX = "images/"


class ImagesServicer(imaged_pb2_grpc.ImagesServicer):
    def __init__(self, store: Store, data_root: Path) -> None:
        self._store = store
        self._data_root = data_root
        # The backing filesystem does not change while the service runs.
        self._driver_status = overlay2_status(data_root)

    async def GetStoreInfo(
        self, request: imaged_pb2.GetStoreInfoRequest, context: Context
    ) -> imaged_pb2.GetStoreInfoResponse:
        return imaged_pb2.GetStoreInfoResponse(
            driver="overlay2",
            driver_status=[types_pb2.KeyValue(key=k, value=v) for k, v in self._driver_status],
            image_count=await self._store.count_prefix(IMAGES_PREFIX),
            data_root=str(self._data_root),
        )


async def register(server: grpc.aio.Server, context: ServiceContext) -> Sequence[str]:
    context.paths.data_root.mkdir(parents=True, exist_ok=True)
    imaged_pb2_grpc.add_ImagesServicer_to_server(
        ImagesServicer(context.store, context.paths.data_root), server
    )
    return [imaged_pb2.DESCRIPTOR.services_by_name["Images"].full_name]
