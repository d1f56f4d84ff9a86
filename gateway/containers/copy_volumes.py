"""A container's volumes for the time of a ``docker cp``, as dockerd has them.

dockerd mounts a container's volumes for every archive request (stat, read,
write) and unmounts them when it is done, reporting a volume ``mount`` then
``unmount`` for each, whether the container runs or not. A running
container's root has its volumes already: only the events go out. For a
stopped one imaged mounts each volume, so one made with driver options (a
bind of a device, a tmpfs) shows its real content rather than its empty
directory; a tmpfs volume is a fresh, empty one each time, as in dockerd.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any, Protocol

from gateway.containers.records import ContainerRecord
from gateway.events.attachments import (
    emit_volume_mounted,
    emit_volume_unmounted,
    volume_mounts,
)
from services.common.errors import DockyardError, NotFound

log = logging.getLogger(__name__)


class VolumeMounts(Protocol):
    async def mount_volume(self, name: str, container_id: str) -> str: ...
    async def unmount_volume(self, name: str, container_id: str) -> None: ...


@contextlib.asynccontextmanager
async def volumes_for_copy(
    record: ContainerRecord, running: bool, volumes: VolumeMounts | None
) -> AsyncIterator[dict[str, str]]:
    """Mount the volumes of a stopped container around a copy.

    Yields the host path of each volume mounted here, by destination (empty
    for a running container). imaged counts the mounts per container, so a
    start or a stop meanwhile keeps its own.
    """
    mounted: list[Mapping[str, Any]] = []
    paths: dict[str, str] = {}
    try:
        for mount in volume_mounts(record):
            if not running and volumes is not None:
                try:
                    path = await volumes.mount_volume(str(mount["Name"]), record.id)
                except NotFound:
                    # Removed behind the container's back: the copy goes on without it.
                    continue
                paths[str(mount.get("Destination", ""))] = path
            mounted.append(mount)
            emit_volume_mounted(record.id, mount)
        yield paths
    finally:
        for mount in mounted:
            if not running and volumes is not None:
                try:
                    # Shielded: a copy cut short still gives its mount back.
                    await asyncio.shield(
                        volumes.unmount_volume(str(mount["Name"]), record.id))
                except DockyardError as e:
                    log.warning("unmounting volume %s after a copy: %s", mount["Name"], e.message)
            emit_volume_unmounted(record.id, mount)
