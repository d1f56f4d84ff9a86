"""Network namespaces as bind-mounted files, made without forking.

A container's namespace is created by a worker thread that unshares its own
network namespace, bind-mounts ``/proc/thread-self/ns/net`` onto
``<exec-root>/netns/<container id>`` (the path execd hands to runc) and returns
to the host namespace. The file keeps the namespace alive with no process in
it, so it outlives netd, and reconcile finds it again after a restart.

Namespaces belong to threads on Linux, so every switch happens on one
dedicated thread that always switches back before it returns; the event loop's
thread never leaves the host namespace. pyroute2's own netns helpers fork a
child per call, which costs more than the whole endpoint set-up.
"""

from __future__ import annotations

import asyncio
import ctypes
import errno
import os
import socket
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from services.common.errors import Internal

CLONE_NEWNET = 0x40000000
MS_BIND = 4096
MNT_DETACH = 2
NETLINK_ROUTE = 0
THREAD_NETNS = "/proc/thread-self/ns/net"
NSFS_MAGIC = 0x6E736673

_libc = ctypes.CDLL(None, use_errno=True)
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="netns")

T = TypeVar("T")


def _check(result: int, what: str) -> None:
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")


def _in_namespace(ns_fd: int | None, body: Callable[[], T]) -> T:
    """Run ``body`` on this thread inside the namespace ``ns_fd`` (a new one when None)."""
    home = os.open(THREAD_NETNS, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if ns_fd is None:
            _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
        else:
            _check(_libc.setns(ns_fd, CLONE_NEWNET), "setns")
        try:
            return body()
        finally:
            # A thread left in a container's namespace would poison every later call.
            _check(_libc.setns(home, CLONE_NEWNET), "setns back to the host namespace")
    finally:
        os.close(home)


def _netlink_socket() -> socket.socket:
    return socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE)


def _create(path: Path) -> tuple[int, socket.socket]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDONLY | os.O_CLOEXEC, 0o444)
    os.close(fd)

    def inside() -> tuple[int, socket.socket]:
        _check(_libc.mount(THREAD_NETNS.encode(), str(path).encode(), b"none", MS_BIND, None),
               f"bind-mount the namespace on {path}")
        # Made while inside: a netlink socket speaks to the namespace it was opened in.
        sock = _netlink_socket()
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC), sock

    try:
        return _in_namespace(None, inside)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


def _socket_in(path: Path) -> socket.socket:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return _in_namespace(fd, _netlink_socket)
    finally:
        os.close(fd)


def _remove(path: Path) -> bool:
    result: int = _libc.umount2(str(path).encode(), MNT_DETACH)
    if result != 0 and ctypes.get_errno() not in (errno.EINVAL, errno.ENOENT):
        code = ctypes.get_errno()
        raise OSError(code, f"umount {path}: {os.strerror(code)}")
    try:
        path.unlink()
    except FileNotFoundError:
        return result == 0
    return True


async def _run(fn: Callable[[], T]) -> T:
    return await asyncio.get_running_loop().run_in_executor(_executor, fn)


async def create(path: Path) -> tuple[int, socket.socket]:
    """Make a namespace pinned at ``path``: an open fd of it and a netlink socket inside it.

    The caller closes both. Only ``lo`` (down) exists in a new namespace.
    """
    try:
        return await _run(lambda: _create(path))
    except FileExistsError:
        raise Internal(f"network namespace {path} already exists") from None
    except OSError as exc:
        raise Internal(f"cannot create network namespace {path}: {exc}") from None


async def netlink_socket(path: Path) -> socket.socket:
    """A netlink (route) socket opened inside the namespace pinned at ``path``."""
    try:
        return await _run(lambda: _socket_in(path))
    except OSError as exc:
        raise Internal(f"cannot enter network namespace {path}: {exc}") from None


def open_fd(path: Path) -> int:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError as exc:
        raise Internal(f"cannot open network namespace {path}: {exc}") from None


async def remove(path: Path) -> bool:
    """Unmount and delete the file; the kernel frees the namespace (and its veth ends)
    once no process is left in it. True when there was something to remove."""
    try:
        return await _run(lambda: _remove(path))
    except OSError as exc:
        raise Internal(f"cannot remove network namespace {path}: {exc}") from None


def is_namespace(path: Path) -> bool:
    """Whether ``path`` is a mounted namespace file (not a stale empty file)."""
    try:
        return _fs_magic(path) == NSFS_MAGIC
    except OSError:
        return False


class _StatFs(ctypes.Structure):
    _fields_ = [("f_type", ctypes.c_long), ("rest", ctypes.c_byte * 128)]


def _fs_magic(path: Path) -> int:
    buf = _StatFs()
    _check(_libc.statfs(str(path).encode(), ctypes.byref(buf)), f"statfs {path}")
    return int(buf.f_type) & 0xFFFFFFFF
