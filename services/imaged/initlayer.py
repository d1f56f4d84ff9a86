"""The files the runtime puts in every container's rootfs: dockerd's "init layer".

dockerd keeps them in a layer of their own between the image and the
container's writable layer, so neither ``docker diff`` nor ``docker commit``
sees them. Ours are empty placeholders in the upper dir (mount points of the
files execd bind-mounts), so both leave them out here.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.imaged.models import SnapshotChange

INIT_PATHS = frozenset({
    "/.dockerenv", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/etc/mtab",
    "/dev/console", "/dev/pts", "/dev/shm", "/proc", "/sys",
})
_MODIFIED = 0


def _parents(path: str) -> set[str]:
    parts = path.strip("/").split("/")
    return {"/" + "/".join(parts[:i]) for i in range(1, len(parts))}


def without_init_paths(changes: Sequence[SnapshotChange]) -> list[SnapshotChange]:
    """``changes`` minus the init files, and minus directories changed only by them."""
    hidden = [c.path for c in changes if c.path in INIT_PATHS]
    only_init_parents = set().union(*(_parents(p) for p in hidden)) if hidden else set()
    visible = [c for c in changes if c.path not in INIT_PATHS]
    # A directory stays when anything visible changed beneath it.
    for change in visible:
        only_init_parents -= _parents(change.path)
    return [c for c in visible
            if not (c.kind == _MODIFIED and c.path in only_init_parents)]
