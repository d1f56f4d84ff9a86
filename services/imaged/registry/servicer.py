"""gRPC shell of the ``Distribution`` service: protos in, registry operations, protos out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import grpc

from dockyard.imaged.v1 import imaged_pb2, imaged_pb2_grpc
from services.common.grpc_errors import Context
from services.imaged.registry.inspect import distribution_info
from services.imaged.registry.login import check_auth
from services.imaged.registry.models import ProgressEvent, RegistryAuth
from services.imaged.registry.progress import Progress, run_with_progress
from services.imaged.registry.pull import PullOptions, pull_image
from services.imaged.registry.push import PushOptions, push_image
from services.imaged.registry.search import search_images
from services.imaged.registry.settings import RegistrySettings
from services.imaged.service import ImageService


def auth_from(message: imaged_pb2.RegistryAuth) -> RegistryAuth:
    return RegistryAuth(username=message.username, password=message.password,
                        server_address=message.server_address,
                        identity_token=message.identity_token,
                        registry_token=message.registry_token)


def message_of(event: ProgressEvent) -> imaged_pb2.ProgressMessage:
    return imaged_pb2.ProgressMessage(status=event.status, id=event.id, has_detail=event.detail,
                                      current=event.current, total=event.total,
                                      aux_json=event.aux)


async def _events(
    operation: Callable[[Progress], Coroutine[Any, Any, None]],
) -> AsyncIterator[imaged_pb2.ProgressMessage]:
    async for event in run_with_progress(operation):
        yield message_of(event)


class DistributionServicer(imaged_pb2_grpc.DistributionServicer):
    def __init__(self, service: ImageService, settings: RegistrySettings) -> None:
        self._service = service
        self._settings = settings

    async def PullImage(
        self, request: imaged_pb2.PullImageRequest, context: Context
    ) -> AsyncIterator[imaged_pb2.PullImageResponse]:
        options = PullOptions(image=request.image, tag=request.tag, platform=request.platform,
                              auth=auth_from(request.auth))

        async def operation(progress: Progress) -> None:
            await pull_image(self._service, self._settings, progress, options)

        async for message in _events(operation):
            yield imaged_pb2.PullImageResponse(message=message)

    async def PushImage(
        self, request: imaged_pb2.PushImageRequest, context: Context
    ) -> AsyncIterator[imaged_pb2.PushImageResponse]:
        options = PushOptions(name=request.name, tag=request.tag, auth=auth_from(request.auth))

        async def operation(progress: Progress) -> None:
            await push_image(self._service, self._settings, progress, options)

        async for message in _events(operation):
            yield imaged_pb2.PushImageResponse(message=message)

    async def CheckAuth(
        self, request: imaged_pb2.CheckAuthRequest, context: Context
    ) -> imaged_pb2.CheckAuthResponse:
        result = await check_auth(self._settings, auth_from(request.auth))
        return imaged_pb2.CheckAuthResponse(status=result.status,
                                            identity_token=result.identity_token)

    async def GetDistribution(
        self, request: imaged_pb2.GetDistributionRequest, context: Context
    ) -> imaged_pb2.GetDistributionResponse:
        info = await distribution_info(self._settings, request.name, auth_from(request.auth))
        return imaged_pb2.GetDistributionResponse(
            media_type=info.media_type, digest=info.digest, size=info.size,
            platforms=[imaged_pb2.Platform(architecture=p.architecture, os=p.os,
                                           os_version=p.os_version,
                                           os_features=list(p.os_features), variant=p.variant)
                       for p in info.platforms],
        )

    async def SearchImages(
        self, request: imaged_pb2.SearchImagesRequest, context: Context
    ) -> imaged_pb2.SearchImagesResponse:
        filters: dict[str, tuple[str, ...]] = {}
        for f in request.filters:
            filters[f.name] = (*filters.get(f.name, ()), *f.values)
        results = await search_images(self._settings, request.term, request.limit, filters,
                                      auth_from(request.auth))
        return imaged_pb2.SearchImagesResponse(results=[
            imaged_pb2.SearchResult(name=r.name, description=r.description,
                                    star_count=r.star_count, is_official=r.is_official,
                                    is_automated=r.is_automated)
            for r in results
        ])


def add_distribution(server: grpc.aio.Server, service: ImageService,
                     settings: RegistrySettings) -> str:
    """Serve ``Distribution`` on ``server``; return its full service name."""
    imaged_pb2_grpc.add_DistributionServicer_to_server(
        DistributionServicer(service, settings), server
    )
    return imaged_pb2.DESCRIPTOR.services_by_name["Distribution"].full_name
