"""Which directory is a container's root for ``docker cp``.

While the container runs, its init's root (``/proc/<pid>/root``) is the
filesystem exactly as the container sees it, its bind mounts and volumes
included. The pid comes from the gateway and may be stale: the container may
have exited and the number been reused by a host process. So ``/proc/<pid>``
is opened once, checked to be in the container's cgroup, and the root opened
relative to that same directory, which fails once the process is gone; the
caller then works on the held fd, never on the number again. Otherwise (not
running, or gone meanwhile) the snapshot's mount point is the root, with the
container's volumes and binds mounted over it for the copy.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from services.imaged.copy_view import copy_view
from services.imaged.models import CopyMount

_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC


def _in_cgroup_of(proc_fd: int, container_id: str) -> bool:
    fd = os.open("cgroup", os.O_RDONLY | os.O_CLOEXEC, dir_fd=proc_fd)
    try:
        text = os.read(fd, 1 << 16).decode(errors="replace")
    finally:
        os.close(fd)
    # Read from imaged's (the host's) cgroup namespace: full paths, ending in the ID.
    return any(line.rstrip("/").endswith("/" + container_id) for line in text.splitlines())


def _running_root(container_id: str, pid: int) -> int | None:
    """An O_PATH fd of the running container's root; None when ``pid`` is not (or no longer) it."""
    try:
        proc_fd = os.open(f"/proc/{pid}", _DIR)
    except OSError:
        return None
    try:
        if not _in_cgroup_of(proc_fd, container_id):
            return None
        return os.open("root", _DIR, dir_fd=proc_fd)
    except OSError:
        return None
    finally:
        os.close(proc_fd)


@contextlib.contextmanager
def container_root(
    snapshot_root: str, container_id: str, pid: int,
    mounts: Sequence[CopyMount] = (), data_root: Path | None = None,
) -> Iterator[str]:
    """A path naming the container's root for as long as the context lasts.

    Not running: the snapshot, with ``mounts`` (its volumes and binds) mounted for
    the time of the context when ``data_root`` is given (:mod:`copy_view`).
    """
    root_fd = _running_root(container_id, pid) if pid > 0 else None
    if root_fd is None:
        if data_root is None:
            yield snapshot_root
            return
        with copy_view(snapshot_root, mounts, data_root) as view:
            yield view
        return
    try:
        yield f"/proc/self/fd/{root_fd}"
    finally:
        os.close(root_fd)
