"""Taking a connection over from aiohttp for attach and exec (``101 UPGRADED``).

aiohttp upgrades only websockets, so the handler writes the status line itself
and swaps the transport's protocol for :class:`HijackedConnection`: from then on
every byte the client sends is stdin, and an EOF from the client is a
half-close (its stdin ended) that leaves our write side open, as Docker's
clients expect (``docker run -i`` with piped input still reads the output).
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

RAW_STREAM = "application/vnd.docker.raw-stream"
MULTIPLEXED_STREAM = "application/vnd.docker.multiplexed-stream"
_HIGH_WATER = 256 * 1024


class HijackedConnection(asyncio.Protocol):
    def __init__(self, transport: asyncio.Transport) -> None:
        self._transport = transport
        self._incoming: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._can_write = asyncio.Event()
        self._can_write.set()
        self.closed = asyncio.Event()

    # asyncio.Protocol ------------------------------------------------------------
    def data_received(self, data: bytes) -> None:
        self._incoming.put_nowait(data)

    def eof_received(self) -> bool:
        self._incoming.put_nowait(None)
        return True  # keep our write side open

    def connection_lost(self, exc: Exception | None) -> None:
        self._incoming.put_nowait(None)
        self._can_write.set()
        self.closed.set()

    def pause_writing(self) -> None:
        self._can_write.clear()

    def resume_writing(self) -> None:
        self._can_write.set()

    # for handlers -----------------------------------------------------------------
    async def read(self) -> bytes | None:
        """The next bytes of the client's stdin; None once it closed its side."""
        return await self._incoming.get()

    async def write(self, data: bytes) -> None:
        if self.closed.is_set() or self._transport.is_closing():
            return
        self._transport.write(data)
        await self._can_write.wait()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self._transport.can_write_eof():
                self._transport.write_eof()
        self._transport.close()


def _wants_upgrade(request: web.Request) -> bool:
    connection = request.headers.get("Connection", "").lower()
    return "upgrade" in connection and request.headers.get("Upgrade", "").lower() == "tcp"


def hijack(request: web.Request, content_type: str = RAW_STREAM) -> HijackedConnection:
    """Answer the request with a raw stream and own its connection from now on."""
    transport = request.transport
    if transport is None or not isinstance(transport, asyncio.Transport):
        raise web.HTTPInternalServerError(text="connection already closed")
    connection = HijackedConnection(transport)
    if _wants_upgrade(request):
        head = (
            "HTTP/1.1 101 UPGRADED\r\n"
            f"Content-Type: {content_type}\r\n"
            "Connection: Upgrade\r\n"
            "Upgrade: tcp\r\n"
        )
    else:
        head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n"
    api_version = request.headers.get("Api-Version", "")
    extra = f"Api-Version: {api_version}\r\n" if api_version else ""
    transport.set_protocol(connection)
    transport.write((head + extra + "\r\n").encode())
    return connection


class Hijacked(web.StreamResponse):
    """What a hijacking handler returns: aiohttp must not write anything more.

    The connection is already closed (or being closed) by the handler; this
    response's prepare writes nothing and keeps aiohttp from reusing it.
    """

    def __init__(self) -> None:
        super().__init__(status=200)
        self.force_close()

    async def prepare(self, request: web.BaseRequest) -> None:
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None
