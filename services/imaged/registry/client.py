"""Typed client of imaged's ``Distribution`` service: callers never touch protos."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import grpc

from dockyard.imaged.v1 import imaged_pb2, imaged_pb2_grpc
from services.common.grpc_client import DEFAULT_TIMEOUT
from services.common.grpc_errors import error_from_rpc
from services.imaged.registry.models import (
    DistributionInfo,
    LoginResult,
    Platform,
    ProgressEvent,
    RegistryAuth,
    SearchResult,
)

# A login or a remote inspect waits for a registry; a pull or push streams for long.
REGISTRY_TIMEOUT = 60.0


def _auth(auth: RegistryAuth) -> imaged_pb2.RegistryAuth:
    return imaged_pb2.RegistryAuth(
        username=auth.username, password=auth.password, server_address=auth.server_address,
        identity_token=auth.identity_token, registry_token=auth.registry_token,
    )


def _event(message: imaged_pb2.ProgressMessage) -> ProgressEvent:
    return ProgressEvent(status=message.status, id=message.id, detail=message.has_detail,
                         current=message.current, total=message.total, aux=message.aux_json)


async def _stream(call: Any) -> AsyncIterator[ProgressEvent]:
    """The events of a server-streaming call; its failure raised as the typed error."""
    try:
        async for response in call:
            yield _event(response.message)
    except grpc.aio.AioRpcError as exc:
        raise error_from_rpc(exc) from None
    finally:
        call.cancel()


class DistributionClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._stub = imaged_pb2_grpc.DistributionStub(channel)
        self._timeout = timeout

    def pull_image(self, image: str, tag: str = "", platform: str = "",
                   auth: RegistryAuth | None = None) -> AsyncIterator[ProgressEvent]:
        """``docker pull``'s progress events; the pull's failure is raised by the iterator."""
        request = imaged_pb2.PullImageRequest(image=image, tag=tag, platform=platform,
                                              auth=_auth(auth or RegistryAuth()))
        return _stream(self._stub.PullImage(request))

    def push_image(self, name: str, tag: str = "",
                   auth: RegistryAuth | None = None) -> AsyncIterator[ProgressEvent]:
        request = imaged_pb2.PushImageRequest(name=name, tag=tag,
                                              auth=_auth(auth or RegistryAuth()))
        return _stream(self._stub.PushImage(request))

    async def check_auth(self, auth: RegistryAuth) -> LoginResult:
        try:
            response = await self._stub.CheckAuth(
                imaged_pb2.CheckAuthRequest(auth=_auth(auth)), timeout=REGISTRY_TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from None
        return LoginResult(status=response.status, identity_token=response.identity_token)

    async def get_distribution(self, name: str,
                               auth: RegistryAuth | None = None) -> DistributionInfo:
        try:
            response = await self._stub.GetDistribution(
                imaged_pb2.GetDistributionRequest(name=name, auth=_auth(auth or RegistryAuth())),
                timeout=REGISTRY_TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from None
        return DistributionInfo(
            media_type=response.media_type, digest=response.digest, size=response.size,
            platforms=tuple(Platform(architecture=p.architecture, os=p.os,
                                     os_version=p.os_version, os_features=tuple(p.os_features),
                                     variant=p.variant) for p in response.platforms),
        )

    async def search_images(self, term: str, limit: int = 0,
                            filters: Mapping[str, tuple[str, ...]] | None = None,
                            auth: RegistryAuth | None = None) -> list[SearchResult]:
        """``docker search``: the registry's matches that pass ``filters``."""
        request = imaged_pb2.SearchImagesRequest(
            term=term, limit=limit, auth=_auth(auth or RegistryAuth()),
            filters=[imaged_pb2.Filter(name=k, values=list(v))
                     for k, v in (filters or {}).items()],
        )
        try:
            response = await self._stub.SearchImages(request, timeout=REGISTRY_TIMEOUT)
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from None
        return [SearchResult(name=r.name, description=r.description, star_count=r.star_count,
                             is_official=r.is_official, is_automated=r.is_automated)
                for r in response.results]


def aux_of(event: ProgressEvent) -> dict[str, Any] | None:
    data = json.loads(event.aux) if event.aux else None
    return data if isinstance(data, dict) else None
