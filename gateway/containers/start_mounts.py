"""A container's mounts, resolved to host paths at start.

Binds (``-v /host:/ctr[:opts]`` and ``--mount type=bind``), tmpfs mounts
(``--mount type=tmpfs``; ``--tmpfs`` stays in HostConfig.Tmpfs for the spec
builder) and volumes (``-v name:/ctr``, ``--mount type=volume``, the image's
anonymous volumes), in Docker's inspect ``Mounts`` shape and in the shape execd's
spec builder takes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gateway.events.resources import emit_volume
from services.common.errors import Conflict, InvalidArgument, NotFound
from services.imaged.volumes.models import VolumeSpec

_PROPAGATIONS = ("rprivate", "private", "rshared", "shared", "rslave", "slave")


ANONYMOUS_LABEL = "com.docker.volume.anonymous"


class VolumeMounter(Protocol):
    """imaged's volume calls the start and remove paths use (VolumesClient)."""

    async def create_volume(self, spec: VolumeSpec) -> Any: ...
    async def inspect_volume(self, name: str) -> Any: ...
    async def reference_volume(self, name: str, container_id: str) -> None: ...
    async def release_volume(self, name: str, container_id: str) -> None: ...
    async def mount_volume(self, name: str, container_id: str) -> str: ...
    async def unmount_volume(self, name: str, container_id: str) -> None: ...
    async def populate_volume(self, name: str, container_id: str, path: str) -> bool: ...
    async def remove_volume(self, name: str, *, force: bool = False) -> None: ...


class VolumeMaker(Protocol):
    """The two volume calls :func:`create_if_missing` makes."""

    async def create_volume(self, spec: VolumeSpec) -> Any: ...
    async def inspect_volume(self, name: str) -> Any: ...


async def create_if_missing(volumes: VolumeMaker, name: str, *, anonymous: bool) -> bool:
    """True if this call made the volume (another create may win the race: then False)."""
    try:
        await volumes.inspect_volume(name)
        return False
    except NotFound:
        pass
    labels = {ANONYMOUS_LABEL: ""} if anonymous else None
    try:
        await volumes.create_volume(VolumeSpec(name=name, labels=labels))
    except Conflict:
        return False
    return True


async def _volume_path(
    volumes: VolumeMounter, name: str, anonymous: bool, container_id: str, m: PlannedMount
) -> str:
    """Create (if needed), reference, mount and fill a volume; its host path."""
    if await create_if_missing(volumes, name, anonymous=anonymous):
        emit_volume(name, "create")
    await volumes.reference_volume(name, container_id)
    path = await volumes.mount_volume(name, container_id)
    if not m.no_copy:
        await volumes.populate_volume(name, container_id, m.destination)
    return path


@dataclass(frozen=True)
class PlannedMount:
    type: str  # bind | volume | tmpfs
    destination: str
    source: str = ""  # host path (bind) or volume name (volume)
    read_only: bool = False
    propagation: str = ""
    tmpfs_options: tuple[str, ...] = ()
    create_source: bool = False  # -v binds: Docker creates a missing host directory
    non_recursive: bool = False
    no_copy: bool = False  # volumes: skip Docker's copy-up of the image's content


def _bind_spec(spec: str) -> PlannedMount:
    """``-v`` syntax: ``src:dst[:opts]`` or ``dst`` (an anonymous volume)."""
    parts = spec.split(":")
    if len(parts) == 1:
        return PlannedMount(type="volume", destination=parts[0])
    if len(parts) > 3:
        raise InvalidArgument(f"invalid volume specification: '{spec}'")
    source, destination = parts[0], parts[1]
    options = parts[2].split(",") if len(parts) == 3 else []
    read_only = "ro" in options
    propagation = next((o for o in options if o in _PROPAGATIONS), "")
    if source.startswith("/"):
        return PlannedMount(type="bind", destination=destination, source=source,
                            read_only=read_only, propagation=propagation or "rprivate",
                            create_source=True)
    return PlannedMount(type="volume", destination=destination, source=source,
                        read_only=read_only, no_copy="nocopy" in options)


def _mount_spec(m: Mapping[str, Any]) -> PlannedMount:
    kind = str(m.get("Type") or "")
    target = str(m.get("Target") or "")
    read_only = bool(m.get("ReadOnly"))
    if kind == "bind":
        options = m.get("BindOptions") or {}
        return PlannedMount(type="bind", destination=target, source=str(m.get("Source") or ""),
                            read_only=read_only,
                            propagation=str(options.get("Propagation") or "rprivate"),
                            non_recursive=bool(options.get("NonRecursive")))
    if kind == "volume":
        options = m.get("VolumeOptions") or {}
        return PlannedMount(type="volume", destination=target, source=str(m.get("Source") or ""),
                            read_only=read_only, no_copy=bool(options.get("NoCopy")))
    if kind == "tmpfs":
        options = m.get("TmpfsOptions") or {}
        tmpfs: list[str] = []
        if options.get("SizeBytes"):
            tmpfs.append(f"size={int(options['SizeBytes']) // 1024}k")
        if options.get("Mode"):
            tmpfs.append(f"mode={int(options['Mode']):o}")
        return PlannedMount(type="tmpfs", destination=target, read_only=read_only,
                            tmpfs_options=tuple(tmpfs))
    raise InvalidArgument(f"mount type unknown: \"{kind}\"")


def plan_mounts(config: Mapping[str, Any], host_config: Mapping[str, Any]) -> list[PlannedMount]:
    """Every mount of the container; later entries win on the same destination."""
    planned: dict[str, PlannedMount] = {}
    for destination in config.get("Volumes") or {}:
        planned[destination] = PlannedMount(type="volume", destination=destination)
    for spec in host_config.get("Binds") or ():
        mount = _bind_spec(str(spec))
        planned[mount.destination] = mount
    for m in host_config.get("Mounts") or ():
        mount = _mount_spec(m)
        planned[mount.destination] = mount
    return sorted(planned.values(), key=lambda m: m.destination.rstrip("/").count("/"))


@dataclass(frozen=True)
class ResolvedMounts:
    for_spec: list[dict[str, Any]]
    """execd's mounts_json entries."""
    for_inspect: list[dict[str, Any]]
    """Docker's ``Mounts`` of inspect."""
    volumes: list[str]
    """Names of the volumes mounted for this container (to release at stop)."""


def anonymous_volume_name(container_id: str, destination: str) -> str:
    """A stable name for an anonymous volume of one destination of one container.

    Docker names anonymous volumes randomly; deriving the name from the
    container and the destination lets create, start and every restart find
    the same volume without another record.
    """
    return hashlib.sha256(f"{container_id}:{destination}".encode()).hexdigest()


def _bind(m: PlannedMount) -> tuple[dict[str, Any], dict[str, Any]]:
    if m.create_source and not os.path.lexists(m.source):
        Path(m.source).mkdir(parents=True, exist_ok=True, mode=0o755)
    return (
        {"type": "bind", "source": m.source, "destination": m.destination,
         "read_only": m.read_only, "propagation": m.propagation,
         "non_recursive": m.non_recursive},
        {"Type": "bind", "Source": m.source, "Destination": m.destination, "Mode": "",
         "RW": not m.read_only, "Propagation": m.propagation},
    )


def _tmpfs(m: PlannedMount) -> tuple[dict[str, Any], dict[str, Any]]:
    return (
        {"type": "tmpfs", "source": "", "destination": m.destination,
         "read_only": m.read_only, "tmpfs_options": list(m.tmpfs_options)},
        {"Type": "tmpfs", "Source": "", "Destination": m.destination, "Mode": "",
         "RW": not m.read_only, "Propagation": ""},
    )


async def resolve_mounts(
    container_id: str, planned: list[PlannedMount], volumes: VolumeMounter | None
) -> ResolvedMounts:
    """Host paths for every mount; volumes already mounted are released on failure."""
    for_spec: list[dict[str, Any]] = []
    for_inspect: list[dict[str, Any]] = []
    mounted: list[str] = []
    try:
        for m in planned:
            if m.type == "bind":
                spec, view = _bind(m)
            elif m.type == "tmpfs":
                spec, view = _tmpfs(m)
            else:
                if volumes is None:
                    raise InvalidArgument("volumes are not available in this Dockyard yet")
                name = m.source or anonymous_volume_name(container_id, m.destination)
                path = await _volume_path(volumes, name, not m.source, container_id, m)
                mounted.append(name)
                spec = {"type": "volume", "source": path, "destination": m.destination,
                        "read_only": m.read_only, "propagation": ""}
                view = {"Type": "volume", "Name": name, "Source": path,
                        "Destination": m.destination, "Driver": "local", "Mode": "z",
                        "RW": not m.read_only, "Propagation": ""}
            for_spec.append(spec)
            for_inspect.append(view)
    except BaseException:
        if volumes is not None:
            for name in mounted:
                await volumes.unmount_volume(name, container_id)
        raise
    return ResolvedMounts(for_spec, for_inspect, mounted)
