"""Run a blocking tar writer in a worker thread and stream what it writes.

The writer gets a file whose ``write`` hands 1 MiB chunks to the event loop
through a small bounded queue, so a slow reader slows the writer instead of
filling memory; when the reader goes away the writer's next write fails and
the thread ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Callable
from typing import Any, BinaryIO

from services.imaged.archive import CHUNK

_QUEUE_CHUNKS = 8


class _ReaderGone(Exception):
    """The stream's reader stopped reading."""


class _QueueSink(io.RawIOBase):
    def __init__(self, queue: asyncio.Queue[bytes | None], loop: asyncio.AbstractEventLoop) -> None:
        self._queue = queue
        self._loop = loop
        self._buffer = bytearray()
        self.cancelled = False

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._buffer += data
        if len(self._buffer) >= CHUNK:
            self._send(bytes(self._buffer))
            self._buffer.clear()
        return len(data)

    def finish(self) -> None:
        if self._buffer:
            self._send(bytes(self._buffer))
            self._buffer.clear()

    def _send(self, item: bytes | None) -> None:
        if self.cancelled:
            raise _ReaderGone
        asyncio.run_coroutine_threadsafe(self._queue.put(item), self._loop).result()

    def end(self) -> None:
        if not self.cancelled:
            self._send(None)


async def stream_from_thread(produce: Callable[[BinaryIO], None]) -> AsyncIterator[bytes]:
    """The bytes ``produce`` writes to the file it is given, chunk by chunk."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=_QUEUE_CHUNKS)
    sink = _QueueSink(queue, loop)

    def run() -> None:
        try:
            produce(sink)  # type: ignore[arg-type]
            sink.finish()
        finally:
            sink.end()

    task = asyncio.ensure_future(asyncio.to_thread(run))
    try:
        while (chunk := await queue.get()) is not None:
            yield chunk
        await task  # the writer's error, if it failed
    finally:
        sink.cancelled = True
        while not task.done():
            with contextlib.suppress(asyncio.QueueEmpty):
                queue.get_nowait()  # unblock a put the writer is waiting on
            await asyncio.wait({task}, timeout=0.05)
        if not task.cancelled():
            with contextlib.suppress(_ReaderGone):
                task.exception()
