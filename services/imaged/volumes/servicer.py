"""gRPC shell of the Volumes service (served by the imaged process)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import grpc

from dockyard.imaged.v1 import imaged_pb2, imaged_pb2_grpc
from services.common.etcd_store import Store
from services.common.grpc_errors import Context
from services.imaged.models import Filters
from services.imaged.service import ImageService
from services.imaged.volumes.models import Volume, VolumeSpec
from services.imaged.volumes.service import VolumeService


def volume_pb(volume: Volume) -> imaged_pb2.Volume:
    return imaged_pb2.Volume(
        name=volume.name, driver=volume.driver, mountpoint=volume.mountpoint,
        created_at=volume.created_at, labels=dict(volume.labels or {}),
        labels_set=volume.labels is not None, options=dict(volume.options or {}),
        options_set=volume.options is not None, users=list(volume.users),
    )


def filters_of(filters: Sequence[imaged_pb2.VolumeFilter]) -> Filters:
    out: dict[str, tuple[str, ...]] = {}
    for f in filters:
        out[f.name] = (*out.get(f.name, ()), *f.values)
    return out


class VolumesServicer(imaged_pb2_grpc.VolumesServicer):
    def __init__(self, service: VolumeService) -> None:
        self._service = service

    async def CreateVolume(
        self, request: imaged_pb2.CreateVolumeRequest, context: Context
    ) -> imaged_pb2.CreateVolumeResponse:
        volume = await self._service.create(VolumeSpec(
            name=request.name, driver=request.driver,
            driver_opts=dict(request.driver_opts) if request.driver_opts_set else None,
            labels=dict(request.labels) if request.labels_set else None,
        ))
        return imaged_pb2.CreateVolumeResponse(volume=volume_pb(volume))

    async def InspectVolume(
        self, request: imaged_pb2.InspectVolumeRequest, context: Context
    ) -> imaged_pb2.InspectVolumeResponse:
        return imaged_pb2.InspectVolumeResponse(
            volume=volume_pb(await self._service.inspect(request.name))
        )

    async def ListVolumes(
        self, request: imaged_pb2.ListVolumesRequest, context: Context
    ) -> imaged_pb2.ListVolumesResponse:
        volumes = await self._service.list_volumes(filters_of(request.filters))
        return imaged_pb2.ListVolumesResponse(volumes=[volume_pb(v) for v in volumes])

    async def RemoveVolume(
        self, request: imaged_pb2.RemoveVolumeRequest, context: Context
    ) -> imaged_pb2.RemoveVolumeResponse:
        await self._service.remove(request.name, force=request.force)
        return imaged_pb2.RemoveVolumeResponse()

    async def PruneVolumes(
        self, request: imaged_pb2.PruneVolumesRequest, context: Context
    ) -> imaged_pb2.PruneVolumesResponse:
        result = await self._service.prune(filters_of(request.filters))
        return imaged_pb2.PruneVolumesResponse(deleted=list(result.deleted),
                                               space_reclaimed=result.space_reclaimed)

    async def ReferenceVolume(
        self, request: imaged_pb2.ReferenceVolumeRequest, context: Context
    ) -> imaged_pb2.ReferenceVolumeResponse:
        await self._service.reference(request.name, request.container_id)
        return imaged_pb2.ReferenceVolumeResponse()

    async def ReleaseVolume(
        self, request: imaged_pb2.ReleaseVolumeRequest, context: Context
    ) -> imaged_pb2.ReleaseVolumeResponse:
        await self._service.release(request.name, request.container_id)
        return imaged_pb2.ReleaseVolumeResponse()

    async def MountVolume(
        self, request: imaged_pb2.MountVolumeRequest, context: Context
    ) -> imaged_pb2.MountVolumeResponse:
        path = await self._service.mount(request.name, request.container_id)
        return imaged_pb2.MountVolumeResponse(path=str(path))

    async def UnmountVolume(
        self, request: imaged_pb2.UnmountVolumeRequest, context: Context
    ) -> imaged_pb2.UnmountVolumeResponse:
        await self._service.unmount(request.name, request.container_id)
        return imaged_pb2.UnmountVolumeResponse()

    async def PopulateVolume(
        self, request: imaged_pb2.PopulateVolumeRequest, context: Context
    ) -> imaged_pb2.PopulateVolumeResponse:
        copied = await self._service.populate(request.name, request.container_id, request.path)
        return imaged_pb2.PopulateVolumeResponse(copied=copied)


async def add_volumes(
    server: grpc.aio.Server, store: Store, data_root: Path, images: ImageService
) -> str:
    """Set up the volume root and serve Volumes on ``server``; return its full name."""
    service = VolumeService(store, data_root, images)
    await service.setup()
    imaged_pb2_grpc.add_VolumesServicer_to_server(VolumesServicer(service), server)
    return str(imaged_pb2.DESCRIPTOR.services_by_name["Volumes"].full_name)
