"""Container root filesystems: an overlay of the image's layers plus a private upper dir.

``<data-root>/overlay/<container id>/`` holds ``diff`` (upper), ``work``,
``merged`` (the mount point handed to the runtime) and ``lower``. The mount is
made by imaged itself with mount(2); no process is started per container.
When the options would exceed the kernel's one-page limit (deep images), the
lowers are given relative to the overlay root (``l/<short>``) and util-linux
``mount`` is run with that directory as its working directory, as overlay2
does with its re-exec'd helper: imaged's own working directory is shared by
its threads and must not change.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

from services.common.errors import Conflict, Internal, InvalidArgument, NotFound
from services.imaged.layers import LINK_DIR, LayerStore
from services.imaged.models import SnapshotChange as Change
from services.imaged.records import LayerRecord

MNT_DETACH = 2
# The kernel copies mount data into one page; keep a margin for the terminator.
MAX_MOUNT_DATA = os.sysconf("SC_PAGE_SIZE") - 1
_CONTAINER_ID = re.compile(r"^[a-f0-9]{64}$")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


MODIFIED, ADDED, DELETED = 0, 1, 2


def check_container_id(container_id: str) -> str:
    if not _CONTAINER_ID.match(container_id):
        raise InvalidArgument(f"invalid container ID {container_id!r}: expected 64 hex digits")
    return container_id


def _mount_overlay(target: Path, options: str) -> None:
    result = _libc.mount(b"overlay", str(target).encode(), b"overlay", 0, options.encode())
    if result != 0:
        err = ctypes.get_errno()
        raise Internal(f"mounting the container filesystem failed: {os.strerror(err)}")


def _umount(target: Path) -> None:
    if _libc.umount2(str(target).encode(), MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise Internal(f"unmounting {target} failed: {os.strerror(err)}")


def is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


class Snapshotter:
    """Prepares, removes and diffs container snapshots over a :class:`LayerStore`."""

    def __init__(self, layers: LayerStore) -> None:
        self.layers = layers

    def snapshot_dir(self, container_id: str) -> Path:
        return self.layers.root / check_container_id(container_id)

    def mount_point(self, container_id: str) -> Path:
        return self.snapshot_dir(container_id) / "merged"

    def prepare(self, container_id: str, stack: list[LayerRecord]) -> Path:
        """Create and mount the snapshot; ``stack`` is the image's layers, bottom first."""
        base = self.snapshot_dir(container_id)
        if base.exists():
            raise Conflict(f"snapshot for container {container_id} already exists")
        try:
            for sub in ("diff", "work", "merged"):
                (base / sub).mkdir(parents=True, mode=0o755)
            links = [f"{LINK_DIR}/{layer.link}" for layer in reversed(stack)]
            if not links:
                # overlayfs needs a lower dir; an image without layers gets an empty one.
                (base / "empty").mkdir(mode=0o755)
                links = [f"{container_id}/empty"]
            (base / "lower").write_text(":".join(links))
            self._mount(base, links)
        except BaseException:
            self._unmount_and_delete(base)
            raise
        return base / "merged"

    def _mount(self, base: Path, links: list[str]) -> None:
        root = self.layers.root
        absolute = ":".join(str(root / link) for link in links)
        options = f"lowerdir={absolute},upperdir={base / 'diff'},workdir={base / 'work'}"
        if len(options) <= MAX_MOUNT_DATA:
            _mount_overlay(base / "merged", options)
            return
        relative = (
            f"lowerdir={':'.join(links)},upperdir={base.name}/diff,workdir={base.name}/work"
        )
        if len(relative) > MAX_MOUNT_DATA:
            raise InvalidArgument(f"image has too many layers ({len(links)}) to mount")
        result = subprocess.run(
            ["mount", "-t", "overlay", "overlay", "-o", relative, str(base / "merged")],
            cwd=root, capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            raise Internal(f"mounting the container filesystem failed: {result.stderr.strip()}")

    def remove(self, container_id: str) -> None:
        """Unmount and delete the snapshot; a missing one is NotFound."""
        base = self.snapshot_dir(container_id)
        if not base.exists():
            raise NotFound(f"no snapshot for container {container_id}")
        self._unmount_and_delete(base)

    def _unmount_and_delete(self, base: Path) -> None:
        merged = base / "merged"
        if merged.exists():
            while os.path.ismount(merged):
                _umount(merged)
        shutil.rmtree(base, ignore_errors=True)

    def changes(self, container_id: str, stack: list[LayerRecord]) -> list[Change]:
        """What the container changed: the upper dir compared with the layers below."""
        upper = self.snapshot_dir(container_id) / "diff"
        if not upper.is_dir():
            raise NotFound(f"no snapshot for container {container_id}")
        lowers = [self.layers.diff_dir(layer.chain_id) for layer in reversed(stack)]
        changes: list[Change] = []
        for dirpath, dirnames, filenames in os.walk(upper):
            for name in sorted([*dirnames, *filenames]):
                full = Path(dirpath) / name
                rel = "/" + str(full.relative_to(upper))
                st = os.lstat(full)
                if is_whiteout(st):
                    changes.append(Change(rel, DELETED))
                    if name in dirnames:
                        dirnames.remove(name)
                    continue
                kind = MODIFIED if _in_lowers(lowers, rel) else ADDED
                changes.append(Change(rel, kind))
        return sorted(changes, key=lambda c: c.path)


def _in_lowers(lowers: list[Path], rel: str) -> bool:
    """Whether ``rel`` exists in the stacked lowers (the topmost layer that has it decides)."""
    for lower in lowers:
        try:
            st = os.lstat(lower / rel.lstrip("/"))
        except (FileNotFoundError, NotADirectoryError):
            continue
        return not is_whiteout(st)
    return False
