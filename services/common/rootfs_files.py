"""Read a file of a container's rootfs the way a process chrooted into it would.

An image is untrusted: its ``/etc/passwd`` may be a symlink to ``/etc/shadow``
of the host, or to ``../../..``. Paths are resolved component by component with
every symlink interpreted inside the rootfs (an absolute target restarts at the
rootfs, ``..`` stops at it), as moby's FollowSymlinkInScope does. The file is
then opened without following a last symlink and without blocking (a FIFO in
place of ``/etc/group`` must not hang the daemon), and only a regular file is
read.

Where the kernel has openat2(2) the open itself is confined (RESOLVE_IN_ROOT),
which also closes the race with a running container swapping a symlink between
the resolution and the open (``docker exec -u`` reads the files of a running
container); elsewhere the lexical resolution below is used, as dockerd does.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import struct
from pathlib import Path

from services.common.errors import InvalidArgument

# Linux's own limit on symlinks followed while resolving one path.
MAX_SYMLINKS = 40
# openat2(2): the same number on every architecture but alpha; flags of linux/openat2.h.
_SYS_OPENAT2 = 437
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_IN_ROOT = 0x10
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_openat2_missing = False
# /etc/passwd of a real image is a few KiB; anything huge is hostile.
MAX_FILE_BYTES = 16 << 20


def resolve_in_root(root: str, path: str) -> str:
    """The host path that ``path`` names inside ``root``, never outside it.

    A symlink loop raises ELOOP, as the kernel's own resolution would.
    """
    root_path = Path(root).absolute()
    pending = [part for part in path.split("/") if part]
    resolved: list[str] = []
    links = 0
    while pending:
        part = pending.pop(0)
        if part == ".":
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root_path.joinpath(*resolved, part)
        try:
            st = os.lstat(candidate)
        except OSError:
            # Missing components stay as they are: the caller finds nothing there.
            resolved.append(part)
            continue
        if not stat.S_ISLNK(st.st_mode):
            resolved.append(part)
            continue
        links += 1
        if links > MAX_SYMLINKS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
        target = str(candidate.readlink())
        if target.startswith("/"):
            resolved = []
        pending = [p for p in target.split("/") if p] + pending
    return str(root_path.joinpath(*resolved))


def _openat2_in_root(root: str, path: str, flags: int) -> int | None:
    """An fd of ``path`` opened by the kernel confined to ``root``; None without openat2."""
    global _openat2_missing
    if _openat2_missing:
        return None
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        packed = struct.pack("=QQQ", flags, 0, _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
        how = ctypes.create_string_buffer(packed, len(packed))
        relative = path.lstrip("/").encode() or b"."
        fd = int(
            _libc.syscall(
                ctypes.c_long(_SYS_OPENAT2),
                ctypes.c_int(root_fd),
                ctypes.c_char_p(relative),
                how,
                ctypes.c_size_t(len(how.raw)),
            )
        )
        if fd >= 0:
            return fd
        err = ctypes.get_errno()
        if err in (errno.ENOSYS, errno.EPERM):  # old kernel, or a seccomp filter on us
            _openat2_missing = True
            return None
        raise OSError(err, os.strerror(err), path)
    finally:
        os.close(root_fd)


def open_in_root(root: str, path: str) -> int:
    """A read-only, non-blocking fd of ``path`` inside ``root``; OSError when absent."""
    flags = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
    fd = _openat2_in_root(root, path, flags)
    if fd is None:
        fd = os.open(resolve_in_root(root, path), flags | os.O_NOFOLLOW)
    return fd


def read_rootfs_file(root: str, path: str) -> bytes | None:
    """The bytes of ``path`` inside ``root``; None when it is absent or not a regular file."""
    try:
        fd = open_in_root(root, path)
    except OSError as error:
        if error.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP, errno.ENXIO):
            return None
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        chunks: list[bytes] = []
        total = 0
        while chunk := os.read(fd, 1 << 16):
            total += len(chunk)
            if total > MAX_FILE_BYTES:
                raise InvalidArgument(f"{path} in the image is larger than {MAX_FILE_BYTES} bytes")
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
