"""Check that a bind's source can carry the propagation asked for, as dockerd does.

A ``shared`` bind only propagates when the host mount holding its source is
itself shared, and a ``slave`` one when that mount is shared or a slave;
otherwise runc would silently give a private mount. dockerd refuses such a
start with the messages below; so does Dockyard.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from services.common.errors import InvalidArgument

MOUNTINFO = Path("/proc/self/mountinfo")


@dataclass(frozen=True)
class HostMount:
    mountpoint: str
    optional: tuple[str, ...]  # e.g. ("shared:1",) or ("master:3",)


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (\\040 ...)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def parse_mountinfo(text: str) -> list[HostMount]:
    mounts = []
    for line in text.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 7:
            continue
        separator = fields.index("-")
        mounts.append(HostMount(_unescape(fields[4]), tuple(fields[6:separator])))
    return mounts


def _contains(mountpoint: str, path: str) -> bool:
    return mountpoint == "/" or path == mountpoint or path.startswith(mountpoint.rstrip("/") + "/")


def source_mount(source: str, mountinfo: str | None = None) -> HostMount:
    """The host mount that holds ``source`` (the longest mountpoint above it)."""
    path = os.path.realpath(source)
    text = MOUNTINFO.read_text() if mountinfo is None else mountinfo
    candidates = [m for m in parse_mountinfo(text) if _contains(m.mountpoint, path)]
    if not candidates:
        raise InvalidArgument(f"Can't find mount point of {source}")
    # The last of the longest wins: a later mount over the same point hides earlier ones.
    longest = max(len(m.mountpoint) for m in candidates)
    return [m for m in candidates if len(m.mountpoint) == longest][-1]


def check_propagation(source: str, propagation: str, mountinfo: str | None = None) -> None:
    if propagation in ("shared", "rshared"):
        mount = source_mount(source, mountinfo)
        if not any(opt.startswith("shared:") for opt in mount.optional):
            raise InvalidArgument(
                f"path {source} is mounted on {mount.mountpoint} but it is not a shared mount"
            )
    elif propagation in ("slave", "rslave"):
        mount = source_mount(source, mountinfo)
        if not any(opt.startswith(("shared:", "master:")) for opt in mount.optional):
            raise InvalidArgument(
                f"path {source} is mounted on {mount.mountpoint} but it is not a shared "
                "or slave mount"
            )
