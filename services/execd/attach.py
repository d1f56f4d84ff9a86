"""Connections to conmon's attach socket and control fifo.

The attach socket is SOCK_SEQPACKET: every packet conmon sends starts with one
byte naming the pipe (2 stdout, 3 stderr) followed by the bytes read from it;
what we send becomes the container's stdin, and shutting our write side closes
it (unless conmon was told to leave stdin open). The socket lives in the
bundle, whose path may exceed sun_path's 108 bytes, so we connect through
``/proc/self/fd/<dirfd>/attach``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from pathlib import Path

from services.common.errors import Conflict

STDOUT = 1
STDERR = 2
_CONMON_PIPES = {2: STDOUT, 3: STDERR}
_PACKET = 32 * 1024
WIN_RESIZE_EVENT = 1


class AttachConnection:
    """One client's connection to a container's stdio."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    @classmethod
    async def open(cls, bundle: Path) -> AttachConnection:
        dir_fd = os.open(bundle, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, f"/proc/self/fd/{dir_fd}/attach")
        except OSError as e:
            sock.close()
            raise Conflict(f"cannot attach: the container's monitor is gone ({e.strerror})") from e
        finally:
            os.close(dir_fd)
        return cls(sock)

    async def read(self) -> tuple[int, bytes] | None:
        """The next (stream, bytes) the container wrote; None once its output ended."""
        loop = asyncio.get_running_loop()
        while True:
            try:
                packet = await loop.sock_recv(self._sock, _PACKET + 1)
            except (ConnectionResetError, OSError):
                return None
            if not packet:
                return None
            stream = _CONMON_PIPES.get(packet[0])
            if stream is not None and len(packet) > 1:
                return stream, packet[1:]

    async def write(self, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        for start in range(0, len(data), _PACKET):
            with contextlib.suppress(OSError):
                await loop.sock_sendall(self._sock, data[start:start + _PACKET])

    def close_stdin(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.close()


def resize(bundle: Path, height: int, width: int) -> None:
    """Ask conmon to resize the container's terminal (its ctl fifo)."""
    fifo = bundle / "ctl"
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        raise Conflict(f"cannot resize: the container is not running ({e.strerror})") from e
    try:
        os.write(fd, f"{WIN_RESIZE_EVENT} {height} {width}\n".encode())
    finally:
        os.close(fd)
