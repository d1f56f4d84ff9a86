"""mount(2) and umount2(2) of a volume's driver mount on its ``_data`` directory."""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
from pathlib import Path

from services.common.errors import Internal, InvalidArgument
from services.imaged.volumes.options import MS_BIND, MS_REC, MS_REMOUNT, PROPAGATION, MountSpec

MNT_DETACH = 2

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def _mount(source: str, target: Path, fstype: str, flags: int, data: str) -> None:
    if _libc.mount(source.encode(), str(target).encode(), fstype.encode(), flags,
                   data.encode() if data else None) != 0:
        err = ctypes.get_errno()
        raise InvalidArgument(
            f"failed to mount local volume: mount {source}:{target}, flags: {flags:#x}"
            + (f", data: {data}" if data else "") + f": {os.strerror(err).lower()}"
        )


def mount(spec: MountSpec, target: Path) -> None:
    """Mount ``spec`` on ``target`` as moby/sys/mount does (bind: then remount for flags)."""
    flags = spec.flags & ~PROPAGATION
    _mount(spec.device, target, spec.fstype, flags, spec.data)
    try:
        if spec.is_bind and flags & ~(MS_BIND | MS_REC | MS_REMOUNT):
            # A bind mount ignores other flags: they take a remount to apply.
            _mount("", target, "", flags | MS_REMOUNT | MS_BIND, spec.data)
        if spec.flags & PROPAGATION:
            _mount("", target, "", spec.flags & (PROPAGATION | MS_REC), "")
    except BaseException:
        unmount(target)
        raise


def is_mount_point(path: Path) -> bool:
    """Whether something is mounted on ``path``, by the mount table.

    ``os.path.ismount`` compares devices and misses a bind mount from the same filesystem.
    """
    return Path(str(path).rstrip("/")) in mounts_under(path, exact=True)


def unmount(target: Path) -> None:
    """Detach whatever is mounted on ``target`` (nothing mounted is fine)."""
    while is_mount_point(target):
        if _libc.umount2(str(target).encode(), MNT_DETACH) != 0:
            err = ctypes.get_errno()
            if err in (errno.EINVAL, errno.ENOENT):
                return
            raise Internal(f"unmounting {target} failed: {os.strerror(err)}")


def mounts_under(path: Path, exact: bool = False) -> list[Path]:
    """Mount points at or below ``path`` (only ``path`` itself when ``exact``), deepest first."""
    prefix = str(path).rstrip("/")
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        point = fields[4].encode().decode("unicode_escape")
        if point == prefix or (not exact and point.startswith(prefix + "/")):
            found.append(Path(point))
    return sorted(found, key=lambda p: len(str(p)), reverse=True)
