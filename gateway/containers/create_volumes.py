"""The volumes a container names, made and held from ``docker create`` on, as dockerd does.

dockerd creates a container's named and anonymous volumes when the container is
created, and counts the container as a user of each from then on: ``docker volume
ls`` lists them before the first start, ``docker volume rm`` of one is refused
while the container exists, and ``docker cp`` into a volume's path of a container
that never ran reaches the volume. The start path mounts what is held here
(:mod:`gateway.containers.start_mounts`); the removal path lets go of it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from gateway.containers.mount_points import volume_path
from gateway.containers.start_mounts import (
    anonymous_volume_name,
    create_if_missing,
    plan_mounts,
)
from gateway.events.resources import emit_volume
from services.imaged.volumes.models import VolumeSpec

log = logging.getLogger(__name__)


class VolumeHolder(Protocol):
    """imaged's volume calls ``docker create`` makes (VolumesClient)."""

    async def create_volume(self, spec: VolumeSpec) -> Any: ...
    async def inspect_volume(self, name: str) -> Any: ...
    async def reference_volume(self, name: str, container_id: str) -> None: ...
    async def release_volume(self, name: str, container_id: str) -> None: ...
    async def remove_volume(self, name: str, *, force: bool = False) -> None: ...


async def hold_volumes(
    container_id: str, config: Mapping[str, Any], host_config: Mapping[str, Any],
    volumes: VolumeHolder, data_root: str,
) -> tuple[dict[str, Any], ...]:
    """Create the missing volumes of a new container and hold each for it.

    Returns the MountPoints of its anonymous volumes (named ones are already in
    the record). On failure, what this call made or held is given back.
    """
    created: list[str] = []
    held: list[str] = []
    anonymous: list[dict[str, Any]] = []
    try:
        for mount in plan_mounts(config, host_config):
            if mount.type != "volume":
                continue
            name = mount.source or anonymous_volume_name(container_id, mount.destination)
            if await create_if_missing(volumes, name, anonymous=not mount.source):
                created.append(name)
            await volumes.reference_volume(name, container_id)
            held.append(name)
            if not mount.source:
                anonymous.append({
                    "Type": "volume", "Name": name, "Source": volume_path(data_root, name),
                    "Destination": mount.destination, "Driver": "local", "Mode": "",
                    "RW": not mount.read_only, "Propagation": "",
                })
    except BaseException:
        await _give_back(volumes, container_id, held, created)
        raise
    for name in created:
        emit_volume(name, "create")
    return tuple(anonymous)


async def _give_back(
    volumes: VolumeHolder, container_id: str, held: list[str], created: list[str]
) -> None:
    """Undo of a failed hold; logged, never raised, so the first error is the one reported."""
    for name in held:
        with contextlib.suppress(Exception):
            await volumes.release_volume(name, container_id)
    for name in created:
        try:
            await volumes.remove_volume(name)
        except Exception:
            log.exception("could not remove volume %s made for a failed create", name)
