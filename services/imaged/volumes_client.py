"""Typed client of imaged's Volumes service: callers never touch protos.

The container life cycle uses :meth:`VolumesClient.reference` at create,
:meth:`mount` (then :meth:`populate` for copy-up) at start, :meth:`unmount` at
stop and :meth:`release` at remove; see the Volumes service in imaged.proto.
"""

from __future__ import annotations

import grpc

from dockyard.imaged.v1 import imaged_pb2, imaged_pb2_grpc
from services.common.grpc_client import DEFAULT_TIMEOUT, call
from services.imaged.models import Filters
from services.imaged.volumes.models import Volume, VolumePruneResult, VolumeSpec

# Removing, pruning and copy-up touch data of any size.
LONG_TIMEOUT: float | None = None


def volume_from_pb(v: imaged_pb2.Volume) -> Volume:
    return Volume(
        name=v.name, driver=v.driver, mountpoint=v.mountpoint, created_at=v.created_at,
        labels=dict(v.labels) if v.labels_set else None,
        options=dict(v.options) if v.options_set else None, users=tuple(v.users),
    )


def _filters(filters: Filters | None) -> list[imaged_pb2.VolumeFilter]:
    return [imaged_pb2.VolumeFilter(name=k, values=list(v)) for k, v in (filters or {}).items()]


class VolumesClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._stub = imaged_pb2_grpc.VolumesStub(channel)
        self._timeout = timeout

    async def create_volume(self, spec: VolumeSpec) -> Volume:
        request = imaged_pb2.CreateVolumeRequest(
            name=spec.name, driver=spec.driver,
            driver_opts=dict(spec.driver_opts or {}), driver_opts_set=spec.driver_opts is not None,
            labels=dict(spec.labels or {}), labels_set=spec.labels is not None,
        )
        response: imaged_pb2.CreateVolumeResponse = await call(
            lambda: self._stub.CreateVolume(request, timeout=self._timeout)
        )
        return volume_from_pb(response.volume)

    async def inspect_volume(self, name: str) -> Volume:
        response: imaged_pb2.InspectVolumeResponse = await call(
            lambda: self._stub.InspectVolume(imaged_pb2.InspectVolumeRequest(name=name),
                                             timeout=self._timeout)
        )
        return volume_from_pb(response.volume)

    async def list_volumes(self, filters: Filters | None = None) -> list[Volume]:
        response: imaged_pb2.ListVolumesResponse = await call(
            lambda: self._stub.ListVolumes(
                imaged_pb2.ListVolumesRequest(filters=_filters(filters)), timeout=self._timeout
            )
        )
        return [volume_from_pb(v) for v in response.volumes]

    async def remove_volume(self, name: str, *, force: bool = False) -> None:
        await call(lambda: self._stub.RemoveVolume(
            imaged_pb2.RemoveVolumeRequest(name=name, force=force), timeout=LONG_TIMEOUT
        ))

    async def prune_volumes(self, filters: Filters | None = None) -> VolumePruneResult:
        response: imaged_pb2.PruneVolumesResponse = await call(
            lambda: self._stub.PruneVolumes(
                imaged_pb2.PruneVolumesRequest(filters=_filters(filters)), timeout=LONG_TIMEOUT
            )
        )
        return VolumePruneResult(tuple(response.deleted), response.space_reclaimed)

    async def reference_volume(self, name: str, container_id: str) -> None:
        """Record that ``container_id`` uses ``name`` (container create)."""
        await call(lambda: self._stub.ReferenceVolume(
            imaged_pb2.ReferenceVolumeRequest(name=name, container_id=container_id),
            timeout=self._timeout,
        ))

    async def release_volume(self, name: str, container_id: str) -> None:
        """Forget that ``container_id`` uses ``name`` (container remove)."""
        await call(lambda: self._stub.ReleaseVolume(
            imaged_pb2.ReleaseVolumeRequest(name=name, container_id=container_id),
            timeout=LONG_TIMEOUT,
        ))

    async def mount_volume(self, name: str, container_id: str) -> str:
        """The host path to bind into ``container_id`` (container start)."""
        response: imaged_pb2.MountVolumeResponse = await call(
            lambda: self._stub.MountVolume(
                imaged_pb2.MountVolumeRequest(name=name, container_id=container_id),
                timeout=LONG_TIMEOUT,
            )
        )
        return response.path

    async def unmount_volume(self, name: str, container_id: str) -> None:
        """One mount fewer (container stop); the last one undoes a driver mount."""
        await call(lambda: self._stub.UnmountVolume(
            imaged_pb2.UnmountVolumeRequest(name=name, container_id=container_id),
            timeout=LONG_TIMEOUT,
        ))

    async def populate_volume(self, name: str, container_id: str, path: str) -> bool:
        """Docker's copy-up of ``path`` in the container's rootfs; True if content was copied."""
        response: imaged_pb2.PopulateVolumeResponse = await call(
            lambda: self._stub.PopulateVolume(
                imaged_pb2.PopulateVolumeRequest(name=name, container_id=container_id,
                                                 path=path),
                timeout=LONG_TIMEOUT,
            )
        )
        return response.copied
