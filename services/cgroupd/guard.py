"""Noticing container cgroups that someone else removed, so cgroupd can put them back.

runc is given each container's cgroupsPath and, on ``runc delete``, removes
those directories as if they were its own. execd deletes a container's runc
state whenever its process exits, also before a restart-policy restart, and
runc then makes the directories again without limits (it applies none): the
restarted container would run unlimited. cgroupd therefore watches the parent
directories of its cgroups (inotify on every hierarchy) and reports each
removed child, and the manager makes a still-recorded cgroup again with its
limits, before the restart (at least 100 ms later) places a process in it.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import struct
from collections.abc import Callable, Iterable
from pathlib import Path

IN_DELETE = 0x00000200
IN_ISDIR = 0x40000000
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


class RemovalGuard:
    """Calls ``on_removed(parent, name)`` for each directory removed below a watched parent."""

    def __init__(self, on_removed: Callable[[str, str], None]) -> None:
        self._on_removed = on_removed
        self._fd = _libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        self._parents: dict[int, str] = {}
        """Watch descriptor → the cgroup parent (e.g. ``dockyard``) it watches."""
        asyncio.get_running_loop().add_reader(self._fd, self._readable)

    def watch(self, parent: str, directories: Iterable[Path]) -> None:
        """Watch ``parent`` in each of its ``directories``; idempotent, absent ones skipped."""
        for directory in directories:
            wd = _libc.inotify_add_watch(self._fd, str(directory).encode(), IN_DELETE)
            if wd >= 0:  # the same directory twice gives the same descriptor
                self._parents[wd] = parent

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        offset = 0
        while offset + _EVENT.size <= len(data):
            wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
            raw = data[offset + _EVENT.size: offset + _EVENT.size + length]
            offset += _EVENT.size + length
            name = raw.rstrip(b"\0").decode(errors="replace")
            parent = self._parents.get(wd)
            if parent is not None and name and mask & IN_DELETE and mask & IN_ISDIR:
                self._on_removed(parent, name)

    def close(self) -> None:
        if self._fd >= 0:
            asyncio.get_running_loop().remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1
