"""A stopped container's filesystem with its volumes and binds, for ``docker cp``.

A running container's root (``/proc/<pid>/root``) has its mounts; a stopped
one has only its snapshot. As dockerd does for a copy, the volumes and binds
are mounted for the time of the copy: on a private bind of the snapshot in a
directory of imaged's own (``<data-root>/copy-views/<random>``), never on the
snapshot's mount itself, so nothing of it outlives the copy or reaches the
container's next start. Destinations are resolved inside the view as the
container would resolve them (symlinks stay inside its root) and created when
missing, as dockerd creates them.

A crash can leave a view mounted: the next view unmounts what it finds there,
and only ever removes empty directories (a view's mounts are user data).
Blocking throughout: callers run this in a worker thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

from services.common.errors import Internal
from services.imaged.inroot import openat_in_root
from services.imaged.models import CopyMount

log = logging.getLogger(__name__)

MS_RDONLY = 0x1
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 1 << 18
MNT_DETACH = 2
VIEWS_DIR = "copy-views"

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_swept: set[Path] = set()


def _mount(source: str | None, target: str, flags: int) -> None:
    if _libc.mount(source.encode() if source else None, target.encode(), None, flags,
                   None) != 0:
        err = ctypes.get_errno()
        raise Internal(f"mounting {source or target} for the copy failed: {os.strerror(err)}")


def _detach(target: Path) -> None:
    if _libc.umount2(str(target).encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            log.warning("unmounting copy view %s failed: %s", target, os.strerror(err))


def _remove_empty(directory: Path) -> None:
    with contextlib.suppress(OSError):  # EBUSY while still mounted: never deleted recursively
        directory.rmdir()


def _sweep(views: Path) -> None:
    """Views a crashed imaged left behind: unmounted, their empty directories removed."""
    if views in _swept:
        return
    _swept.add(views)
    with contextlib.suppress(FileNotFoundError):
        for leftover in views.iterdir():
            _detach(leftover)
            _remove_empty(leftover)


def _depth(mount: CopyMount) -> int:
    return len([part for part in mount.destination.split("/") if part])


def _open_destination(view_fd: int, destination: str, is_dir: bool) -> int:
    """An O_PATH fd of ``destination`` inside the view, created (with its parents) if missing."""
    parts = [part for part in destination.split("/") if part not in ("", ".")]
    current = "/"
    for index, part in enumerate(parts):
        path = current.rstrip("/") + "/" + part
        try:
            fd = openat_in_root(view_fd, path, os.O_PATH)
        except FileNotFoundError:
            parent = openat_in_root(view_fd, current, os.O_PATH | os.O_DIRECTORY)
            try:
                if index < len(parts) - 1 or is_dir:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o755, dir_fd=parent)
                else:
                    created = os.open(part, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW
                                      | os.O_CLOEXEC, 0o755, dir_fd=parent)
                    os.close(created)
            finally:
                os.close(parent)
            fd = openat_in_root(view_fd, path, os.O_PATH)
        if index < len(parts) - 1:
            os.close(fd)
        else:
            return fd
        current = path
    return openat_in_root(view_fd, "/", os.O_PATH)


def _mount_one(view_fd: int, mount: CopyMount) -> None:
    source = Path(mount.source)
    if not source.exists():
        # The container could not start with it either; the rest is still copied.
        log.warning("copy skips mount %s: %s is missing", mount.destination, source)
        return
    source_is_dir = source.is_dir()
    fd = _open_destination(view_fd, mount.destination, source_is_dir)
    try:
        _mount(mount.source, f"/proc/self/fd/{fd}", MS_BIND | MS_REC)
    finally:
        os.close(fd)
    if mount.read_only:
        # Opened again: the fd above names the directory under the new mount, and
        # a remount needs the mount's own root.
        fd = openat_in_root(view_fd, mount.destination, os.O_PATH)
        try:
            _mount(None, f"/proc/self/fd/{fd}", MS_BIND | MS_REMOUNT | MS_RDONLY)
        finally:
            os.close(fd)


@contextlib.contextmanager
def copy_view(snapshot_root: str, mounts: Sequence[CopyMount], data_root: Path) -> Iterator[str]:
    """The snapshot with ``mounts`` mounted at their destinations, for as long as it lasts."""
    if not mounts:
        yield snapshot_root
        return
    views = data_root / VIEWS_DIR
    _sweep(views)
    views.mkdir(mode=0o700, parents=True, exist_ok=True)
    view = Path(tempfile.mkdtemp(dir=views))
    try:
        _mount(snapshot_root, str(view), MS_BIND)
        try:
            # Private first: the mounts below must not propagate to the snapshot's peers.
            _mount(None, str(view), MS_PRIVATE)
            view_fd = os.open(view, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                for mount in sorted(mounts, key=_depth):
                    _mount_one(view_fd, mount)
            finally:
                os.close(view_fd)
            yield str(view)
        finally:
            _detach(view)  # the whole tree at once
    finally:
        _remove_empty(view)
