"""The progress events of a pull or push, as the operation reports them.

An operation runs as a task that writes :class:`ProgressEvent` values into a
queue; :func:`run_with_progress` yields them to the RPC as they come and
re-raises the operation's error after the last one. Byte-count updates are
throttled per layer (every 100 ms, as Docker's progress reader), the final
count always goes out. Worker threads report through :meth:`Progress.threadsafe`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from services.imaged.registry.models import ProgressEvent

UPDATE_SECONDS = 0.1


def short_id(digest: str) -> str:
    """stringid.TruncateID: 12 hex digits without the algorithm."""
    return digest.partition(":")[2][:12] if ":" in digest else digest[:12]


class Progress:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[ProgressEvent | None] = asyncio.Queue()
        self.started = False
        """Whether anything was reported: errors after this go inside the stream."""
        self._last: dict[str, float] = {}
        self._loop = asyncio.get_running_loop()

    def _put(self, event: ProgressEvent) -> None:
        self.started = True
        self.queue.put_nowait(event)

    def message(self, id: str, status: str) -> None:
        """A plain status line (Docker's progress.Message)."""
        self._put(ProgressEvent(status=status, id=id))

    def update(self, id: str, action: str) -> None:
        """A step of one layer, with an empty progressDetail (progress.Update)."""
        self._last.pop(id, None)
        self._put(ProgressEvent(status=action, id=id, detail=True))

    def bytes(self, id: str, action: str, current: int, total: int, *, final: bool = False) -> None:
        """A byte count of one layer; throttled unless ``final``."""
        now = time.monotonic()
        if not final and now - self._last.get(id, 0.0) < UPDATE_SECONDS:
            return
        self._last[id] = now
        self._put(ProgressEvent(status=action, id=id, detail=True, current=current, total=total))

    def aux(self, data: dict[str, Any]) -> None:
        self._put(ProgressEvent(detail=True, aux=json.dumps(data, separators=(",", ":"))))

    def threadsafe(self, id: str, action: str, current: int, total: int) -> None:
        """:meth:`bytes`, callable from a worker thread."""
        self._loop.call_soon_threadsafe(self.bytes, id, action, current, total)


async def run_with_progress(
    operation: Callable[[Progress], Coroutine[Any, Any, None]],
) -> AsyncIterator[ProgressEvent]:
    """Run ``operation`` and yield its events; its error is raised after them."""
    progress = Progress()
    task = asyncio.create_task(operation(progress))
    task.add_done_callback(lambda _: progress.queue.put_nowait(None))
    try:
        while True:
            event = await progress.queue.get()
            if event is None:
                break
            yield event
        # Events reported from threads may land after the end marker.
        while not progress.queue.empty():
            late = progress.queue.get_nowait()
            if late is not None:
                yield late
        await task
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


class CountingReader:
    """A binary file that reports how much of it has been read, for "Extracting"."""

    def __init__(self, inner: Any, on_read: Callable[[int], None]) -> None:
        self._inner = inner
        self._on_read = on_read
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._inner.read(size)
        self.count += len(data)
        self._on_read(self.count)
        return data

    def readinto(self, buffer: Any) -> int:
        n: int = self._inner.readinto(buffer)
        self.count += n
        self._on_read(self.count)
        return n

    def readable(self) -> bool:
        return True

    @property
    def closed(self) -> bool:
        return bool(self._inner.closed)
