"""A minimal asyncio inotify: one fd, any number of watches, events to a callback.

execd learns of container exits from conmon's exit files and cgroupd of
cgroups removed under it; both are woken at once instead of polling.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import os
import struct
from collections.abc import Callable
from pathlib import Path

IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_DELETE = 0x00000200
IN_ISDIR = 0x40000000
_IN_NONBLOCK = 0o4000
_IN_CLOEXEC = 0o2000000
_EVENT = struct.Struct("iIII")

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)

Handler = Callable[[int, int, str], None]
"""Called with (watch descriptor, event mask, name) for each event with a name."""


class Inotify:
    def __init__(self, on_event: Handler) -> None:
        self._on_event = on_event
        self._fd = _libc.inotify_init1(_IN_NONBLOCK | _IN_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        asyncio.get_running_loop().add_reader(self._fd, self._readable)

    def add_watch(self, directory: Path, mask: int) -> int:
        """The watch descriptor (the same for the same directory); -1 when it cannot be watched."""
        wd: int = _libc.inotify_add_watch(self._fd, str(directory).encode(), mask)
        return wd

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
            if name:
                self._on_event(wd, mask, name)

    def close(self) -> None:
        if self._fd >= 0:
            asyncio.get_running_loop().remove_reader(self._fd)
            os.close(self._fd)
            self._fd = -1
