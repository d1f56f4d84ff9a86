"""The spec's mounts: dockerd's defaults, then the container's own, as moby orders them.

Defaults (proc, /dev, devpts, sysfs, cgroup, mqueue, /dev/shm) come first,
minus any a container mount replaces (a mount at /dev replaces everything
under it too). Then the container's mounts — volumes and binds, the
resolv.conf/hostname/hosts files, the IPC mount and tmpfs — sorted by the
depth of their destination so a parent is mounted before its children.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.common.errors import InvalidArgument
from services.execd.spec.inputs import MountPoint
from services.execd.spec.propagation import check_propagation

DEFAULT_SHM_SIZE = 64 << 20

# The three network files netd writes, bound in this order (moby's NetworkMounts).
NETWORK_FILES = ("/etc/resolv.conf", "/etc/hostname", "/etc/hosts")

# Mounts that ReadonlyRootfs leaves writable.
_WRITABLE_WITH_READONLY_ROOTFS = {"/proc", "/dev/pts", "/dev/shm", "/dev/mqueue", "/dev"}

_PROPAGATIONS = {"private", "rprivate", "shared", "rshared", "slave", "rslave"}

# Mount flags for MergeTmpfsOptions: options sharing a key cancel each other
# (the last wins); all propagation modes share one key.
_FLAG_KEYS = {
    "ro": "rdonly", "rw": "rdonly",
    "suid": "nosuid", "nosuid": "nosuid",
    "dev": "nodev", "nodev": "nodev",
    "exec": "noexec", "noexec": "noexec",
    "sync": "sync", "async": "sync",
    "dirsync": "dirsync",
    "remount": "remount",
    "mand": "mand", "nomand": "mand",
    "atime": "noatime", "noatime": "noatime",
    "diratime": "nodiratime", "nodiratime": "nodiratime",
    "bind": "bind", "rbind": "rbind",
    "unbindable": "propagation", "runbindable": "propagation",
    "private": "propagation", "rprivate": "propagation",
    "shared": "propagation", "rshared": "propagation",
    "slave": "propagation", "rslave": "propagation",
    "relatime": "relatime", "norelatime": "relatime",
    "strictatime": "strictatime", "nostrictatime": "strictatime",
}
_TMPFS_DATA_KEYS = {"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"}


def default_mounts() -> list[dict[str, Any]]:
    """moby's DefaultLinuxSpec mounts (without /dev/shm's size, added per container)."""
    return [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["ro", "nosuid", "noexec", "nodev"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777"]},
    ]


def merge_tmpfs_options(options: Sequence[str]) -> list[str]:
    """moby's MergeTmpfsOptions: the last of colliding options wins, order kept."""
    seen_flags: set[str] = set()
    seen_data: set[str] = set()
    merged: list[str] = []
    for option in reversed(options):
        if option == "defaults":
            continue
        flag_key = _FLAG_KEYS.get(option)
        if flag_key is not None:
            if flag_key not in seen_flags:
                seen_flags.add(flag_key)
                merged.insert(0, option)
            continue
        key, sep, _ = option.partition("=")
        if not sep or key not in _TMPFS_DATA_KEYS:
            raise InvalidArgument(f'invalid tmpfs option ["{option}"]')
        if key not in seen_data:
            seen_data.add(key)
            merged.insert(0, option)
    return merged


def tmpfs_options_from_api(options: Mapping[str, Any] | None, read_only: bool) -> tuple[str, ...]:
    """A ``--mount type=tmpfs`` TmpfsOptions object as mount data (moby's ConvertTmpfsOptions)."""
    raw: list[str] = ["ro"] if read_only else []
    options = options or {}
    if options.get("Mode"):
        raw.append(f"mode={int(options['Mode']):o}")
    size = int(options.get("SizeBytes") or 0)
    if size:
        for suffix, divisor in (("g", 1 << 30), ("m", 1 << 20), ("k", 1 << 10)):
            if size % divisor == 0:
                raw.append(f"size={size // divisor}{suffix}")
                break
        else:
            raw.append(f"size={size}")
    return tuple(raw)


@dataclass(frozen=True)
class _Mount:
    """A container mount before it becomes an OCI mount (moby's container.Mount)."""

    destination: str
    source: str
    writable: bool = True
    propagation: str = ""
    tmpfs_data: tuple[str, ...] | None = None  # set for tmpfs mounts
    non_recursive: bool = False


def _depth(destination: str) -> int:
    return os.path.normpath(destination).count("/")


def _check_destination(destination: str) -> None:
    if not destination.startswith("/"):
        raise InvalidArgument(f"invalid mount config: mount path must be absolute: {destination}")


def _container_mounts(
    mounts: Sequence[MountPoint],
    tmpfs: Mapping[str, str],
    network_files: Mapping[str, str],
    readonly_rootfs: bool,
    shm_bind: str,
) -> list[_Mount]:
    collected: list[_Mount] = []
    net_sources = dict(network_files)
    net_writable = {dest: not readonly_rootfs for dest in NETWORK_FILES}
    for point in mounts:
        _check_destination(point.destination)
        if point.propagation and point.propagation not in _PROPAGATIONS:
            raise InvalidArgument(f"invalid propagation mode: {point.propagation}")
        destination = os.path.normpath(point.destination)
        if destination == "/":
            raise InvalidArgument("invalid specification: destination can't be '/'")
        if point.type not in ("bind", "volume", "tmpfs"):
            raise InvalidArgument(f"invalid mount type {point.type!r} for {destination}")
        if point.type != "tmpfs" and not point.source.startswith("/"):
            raise InvalidArgument(
                f"invalid mount config for {destination}: the source must be an absolute "
                f"host path, not {point.source!r}"
            )
        if point.type == "tmpfs":
            data = (("ro",) if point.read_only else ()) + tuple(point.tmpfs_options)
            collected.append(_Mount(destination, "tmpfs", tmpfs_data=data))
        elif destination in NETWORK_FILES:
            # A user's file at /etc/hosts etc. takes the place of netd's (TrySetNetworkMount).
            net_sources[destination] = point.source
            net_writable[destination] = not point.read_only
        else:
            collected.append(
                _Mount(destination, point.source, not point.read_only, point.propagation,
                       non_recursive=point.non_recursive)
            )
    for destination in NETWORK_FILES:
        if net_sources.get(destination):
            collected.append(
                _Mount(destination, net_sources[destination], net_writable[destination], "rprivate")
            )
    if shm_bind and not any(m.destination == "/dev/shm" for m in collected):
        collected.append(_Mount("/dev/shm", shm_bind, True, "rprivate"))
    for destination in sorted(tmpfs):
        _check_destination(destination)
        data = tuple(part for part in (tmpfs[destination] or "").split(",") if part)
        collected.append(_Mount(os.path.normpath(destination), "tmpfs", tmpfs_data=data))
    seen: set[str] = set()
    for mount in collected:
        if mount.destination in seen:
            raise InvalidArgument(f"Duplicate mount point: {mount.destination}")
        seen.add(mount.destination)
    # Stable, so mounts at one depth keep the order above.
    return sorted(collected, key=lambda m: _depth(m.destination))


def _oci_mount(mount: _Mount) -> dict[str, Any]:
    if mount.tmpfs_data is not None:
        options = merge_tmpfs_options(["noexec", "nosuid", "nodev", "rprivate", *mount.tmpfs_data])
        return {"destination": mount.destination, "type": "tmpfs", "source": "tmpfs",
                "options": options}
    options = ["bind" if mount.non_recursive else "rbind"]
    if not mount.writable:
        options.append("ro")
    if mount.propagation:
        options.append(mount.propagation)
    return {"destination": mount.destination, "type": "bind", "source": mount.source,
            "options": options}


def _clear_ro(mount: dict[str, Any]) -> None:
    mount["options"] = [opt for opt in mount["options"] if opt != "ro"]


@dataclass(frozen=True)
class MountPlan:
    mounts: list[dict[str, Any]]
    # "rshared"/"rslave" when a bind needs the rootfs propagation to carry it.
    rootfs_propagation: str = ""


def build_mounts(
    *,
    mounts: Sequence[MountPoint],
    tmpfs: Mapping[str, str],
    network_files: Mapping[str, str],
    shm_size: int,
    shm_bind: str,
    ipc_none: bool,
    readonly_rootfs: bool,
    privileged: bool,
    init_path: str,
    extra_defaults: Iterable[dict[str, Any]] = (),
    mountinfo: str | None = None,
) -> MountPlan:
    """``mountinfo``: the host's /proc/self/mountinfo text (None: read it when needed)."""
    if shm_size < 0:
        raise InvalidArgument("SHM size can not be less than 0")
    container = _container_mounts(mounts, tmpfs, network_files, readonly_rootfs, shm_bind)
    user_destinations = {m.destination for m in container}
    dev_replaced = "/dev" in user_destinations

    result: list[dict[str, Any]] = []
    defaults = default_mounts() + list(extra_defaults)
    if init_path:
        defaults.append({"destination": "/sbin/docker-init", "type": "bind",
                         "source": init_path, "options": ["bind", "ro"]})
    for mount in defaults:
        destination = mount["destination"]
        if destination in user_destinations:
            continue
        if dev_replaced and destination.startswith("/dev/"):
            continue
        if destination == "/dev/shm":
            if ipc_none:
                continue
            mount["options"].append(f"size={shm_size or DEFAULT_SHM_SIZE}")
        result.append(mount)

    propagation = ""
    for point in container:
        if point.tmpfs_data is None and point.propagation:
            check_propagation(point.source, point.propagation, mountinfo)
        result.append(_oci_mount(point))
        if point.propagation in ("shared", "rshared"):
            propagation = "shared"
        elif point.propagation in ("slave", "rslave") and propagation != "shared":
            propagation = "rslave"

    if readonly_rootfs:
        for mount in result:
            destination = mount["destination"]
            if destination in _WRITABLE_WITH_READONLY_ROOTFS or destination in user_destinations:
                continue
            if "ro" not in mount["options"]:
                mount["options"].append("ro")
    if privileged:
        for mount in result:
            if mount["destination"] == "/sys" or mount["type"] == "cgroup":
                _clear_ro(mount)
    return MountPlan(result, propagation)
