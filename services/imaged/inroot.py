"""Open paths inside a container's root the way a process in the container would.

The kernel resolves them (openat2 with RESOLVE_IN_ROOT): symlinks are
followed inside the root, ``..`` stops at it, and a running container that
swaps a symlink between our checks and our open cannot send us outside it
(the CVE-2018-15664 class). Everything after the open works on file
descriptors, never on a path string resolved again.
"""

from __future__ import annotations

import ctypes
import errno
import os
import struct

from services.common.errors import Unavailable

# openat2(2): the same number on every architecture but alpha; flags of linux/openat2.h.
_SYS_OPENAT2 = 437
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_IN_ROOT = 0x10
_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def openat_in_root(root_fd: int, path: str, flags: int) -> int:
    """An fd of ``path`` opened under ``root_fd`` as if ``root_fd`` were ``/``."""
    packed = struct.pack("=QQQ", flags | os.O_CLOEXEC, 0,
                         _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
    how = ctypes.create_string_buffer(packed, len(packed))
    relative = path.lstrip("/").encode() or b"."
    fd = int(_libc.syscall(ctypes.c_long(_SYS_OPENAT2), ctypes.c_int(root_fd),
                           ctypes.c_char_p(relative), how, ctypes.c_size_t(len(packed))))
    if fd >= 0:
        return fd
    err = ctypes.get_errno()
    if err == errno.ENOSYS:
        raise Unavailable("this kernel has no openat2(2), needed to copy files safely")
    raise OSError(err, os.strerror(err), path)


def split_container_path(path: str) -> tuple[str, str]:
    """``(parent, last component)`` of an absolute container path; the root is ``("/", ".")``.

    A trailing ``/`` or ``/.`` keeps its meaning "the directory's contents": the
    last component is then ``.`` (opened through, as dockerd does).
    """
    clean = "/" + path.strip("/")
    if path.endswith("/.") or (path.endswith("/") and clean != "/"):
        return clean, "."
    parent, _, name = clean.rpartition("/")
    if not name:
        return "/", "."
    if name in (".", ".."):
        return clean, "."
    return parent or "/", name
