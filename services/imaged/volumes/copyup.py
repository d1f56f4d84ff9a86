"""Docker's copy-up: a new volume mounted over image content starts with that content.

dockerd (container.CopyImagePathContent) copies the directory at the mount
path of the container's root filesystem into the volume when the volume is
empty, then gives the volume's root the owner and mode of that directory.
The copy keeps ownership, modes (setuid included), xattrs, times, symlinks
(as links, never followed), hard links and device nodes.

The source is opened under the root filesystem with openat2's
RESOLVE_IN_ROOT (an absolute symlink target restarts at the container's root,
``..`` stops there): a hostile image cannot make the copy read host files.
Everything below is walked with ``*at`` calls that never follow symlinks.
Blocking: run in a worker thread.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
from pathlib import Path

from services.imaged.inroot import openat_in_root

_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_SKIPPED_XATTRS = ("trusted.overlay.",)


def open_dir_in_root(root: Path, path: str) -> int | None:
    """A readable fd of the directory ``path`` inside ``root``; None if it is not one."""
    root_fd = os.open(root, _DIR)
    try:
        # The kernel resolves symlinks and ".." without leaving the root (openat2).
        return openat_in_root(root_fd, path, _DIR & ~os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
            return None
        raise
    finally:
        os.close(root_fd)


def _copy_xattrs(src_dir: int, dst_dir: int, name: str) -> None:
    src = os.open(name, _PATH, dir_fd=src_dir)
    dst = os.open(name, _PATH, dir_fd=dst_dir)
    try:
        with contextlib.suppress(OSError):
            for key in os.listxattr(f"/proc/self/fd/{src}"):
                if key.startswith(_SKIPPED_XATTRS):
                    continue
                with contextlib.suppress(OSError):
                    os.setxattr(f"/proc/self/fd/{dst}", key,
                                os.getxattr(f"/proc/self/fd/{src}", key))
    finally:
        os.close(src)
        os.close(dst)


def _metadata(src_dir: int, dst_dir: int, name: str, st: os.stat_result) -> None:
    os.chown(name, st.st_uid, st.st_gid, dir_fd=dst_dir, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=dst_dir)  # after chown: keeps setuid
        _copy_xattrs(src_dir, dst_dir, name)
    os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst_dir, follow_symlinks=False)


class _Copier:
    def __init__(self, target_root: int) -> None:
        self.target_root = target_root
        self.links: dict[tuple[int, int], str] = {}
        """(device, inode) of a multiply-linked source file → its copy, relative to the target."""

    def copy_dir(self, src: int, dst: int, rel: str) -> None:
        for entry in sorted(os.listdir(src)):
            st = os.stat(entry, dir_fd=src, follow_symlinks=False)
            mode = st.st_mode
            entry_rel = f"{rel}/{entry}" if rel else entry
            if stat.S_ISDIR(mode):
                os.mkdir(entry, 0o700, dir_fd=dst)
                child_src = os.open(entry, _DIR, dir_fd=src)
                child_dst = os.open(entry, _DIR, dir_fd=dst)
                try:
                    self.copy_dir(child_src, child_dst, entry_rel)
                finally:
                    os.close(child_src)
                    os.close(child_dst)
            elif stat.S_ISREG(mode):
                key = (st.st_dev, st.st_ino)
                if st.st_nlink > 1 and key in self.links:
                    os.link(self.links[key], entry, src_dir_fd=self.target_root, dst_dir_fd=dst,
                            follow_symlinks=False)
                    continue
                self._copy_file(src, dst, entry)
                if st.st_nlink > 1:
                    self.links[key] = entry_rel
            elif stat.S_ISLNK(mode):
                os.symlink(os.readlink(entry, dir_fd=src), entry, dir_fd=dst)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
                os.mknod(entry, mode, st.st_rdev, dir_fd=dst)
            else:
                continue  # sockets are not content
            _metadata(src, dst, entry, st)

    @staticmethod
    def _copy_file(src: int, dst: int, name: str) -> None:
        source = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
        with os.fdopen(source, "rb") as reader:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            target = os.open(name, flags, 0o600, dir_fd=dst)
            with os.fdopen(target, "wb") as writer:
                shutil.copyfileobj(reader, writer, 1 << 20)


def is_empty(directory: Path) -> bool:
    with os.scandir(directory) as entries:
        return next(entries, None) is None


def copy_up(rootfs: Path, container_path: str, target: Path) -> bool:
    """Copy ``container_path`` of ``rootfs`` into the empty directory ``target``.

    Returns whether the source existed (then ``target`` took its content, owner
    and mode). ``target`` must be empty; the caller checks.
    """
    source = open_dir_in_root(rootfs, container_path)
    if source is None:
        return False
    try:
        dst = os.open(target, _DIR)
        try:
            _Copier(dst).copy_dir(source, dst, "")
            st = os.fstat(source)
            os.fchown(dst, st.st_uid, st.st_gid)
            os.fchmod(dst, stat.S_IMODE(st.st_mode))
        finally:
            os.close(dst)
    finally:
        os.close(source)
    return True
