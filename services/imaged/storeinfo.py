"""Facts about the storage backend under the data-root, as ``docker info`` shows them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# Docker names the backing filesystem by its magic number's name; these are the
# names it prints for the filesystems a data-root usually sits on.
_DOCKER_FS_NAMES = {"ext2": "extfs", "ext3": "extfs", "ext4": "extfs", "overlay": "overlayfs"}
_NO_DTYPE = frozenset({"vfat", "msdos", "exfat"})


@dataclass(frozen=True)
class StoreInfo:
    driver: str
    driver_status: tuple[tuple[str, str], ...]
    image_count: int
    data_root: str


def mount_fstype(path: Path, mountinfo: str | None = None) -> str:
    """The filesystem type of the mount that holds ``path`` (longest mount-point prefix)."""
    text = mountinfo if mountinfo is not None else Path("/proc/self/mountinfo").read_text()
    target = str(path.resolve())
    best, best_type = "", "unknown"
    for line in text.splitlines():
        fields = line.split()
        if " - " not in line or len(fields) < 5:
            continue
        mount_point = fields[4].replace("\\040", " ")
        fstype = line.split(" - ", 1)[1].split()[0]
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, best_type = mount_point, fstype
    return best_type


def overlay2_status(data_root: Path) -> tuple[tuple[str, str], ...]:
    """``DriverStatus`` of the overlay2 driver for a data-root."""
    fstype = mount_fstype(data_root)
    return (
        ("Backing Filesystem", _DOCKER_FS_NAMES.get(fstype, fstype)),
        ("Supports d_type", "false" if fstype in _NO_DTYPE else "true"),
        ("Using metacopy", "false"),
        ("Native Overlay Diff", "true"),
        ("userxattr", "false"),
    )
