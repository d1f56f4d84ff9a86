"""``exec_die`` of detached execs across gateway restarts.

A ``docker exec -d`` returns at once; the gateway reports the exec's end
(``exec_die`` with exitCode and execID, as dockerd) when execd's stream for
it ends. That follower lives in the gateway's memory, so each detached exec
is also noted in etcd (``exec-follows/<exec id>``) until its ``exec_die`` is
out. A gateway that starts finds the notes its predecessor left and follows
those execs again: by asking execd, which keeps the sessions (and their exit
codes) for as long as it runs. An exec that ended while no gateway was up is
reported as soon as one is back; one execd no longer knows (execd restarted,
or the container is gone) has no exit code to report and its note is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

from aiohttp import web

from gateway.events.containers import RecordReader, emit_for
from gateway.keys import BACKENDS
from services.common.errors import DockyardError, NotFound
from services.common.records import dump_record

log = logging.getLogger(__name__)

FOLLOWS_PREFIX = "exec-follows/"
POLL_FIRST_SECONDS = 0.05
POLL_MAX_SECONDS = 0.5
"""How often execd is asked about an exec followed again (no stream to wait on)."""


class FollowStore(Protocol):
    async def put(self, key: str, value: bytes, *, lease: Any = None) -> None: ...
    async def delete(self, key: str) -> bool: ...
    async def get_prefix(self, prefix: str) -> list[Any]: ...


class ExecInspector(Protocol):
    async def inspect_exec(self, exec_id: str) -> Any: ...


class ExecFollows:
    def __init__(self, store: FollowStore, records: RecordReader, execs: ExecInspector) -> None:
        self._store = store
        self._records = records
        self._execs = execs
        self._tasks: set[asyncio.Task[None]] = set()
        # Noted by this gateway, which follows them through their streams.
        self._own: set[str] = set()

    async def note(self, exec_id: str, container_id: str) -> None:
        """Before a detached exec starts: its end is to be reported, by whichever gateway."""
        self._own.add(exec_id)
        try:
            await self._store.put(FOLLOWS_PREFIX + exec_id,
                                  dump_record({"container_id": container_id}))
        except DockyardError as e:
            # The exec runs all the same; only a restart meanwhile would miss its end.
            log.warning("noting exec %s: %s", exec_id[:12], e.message)

    async def settled(self, exec_id: str, done: bool) -> None:
        """The end of a detached exec's stream: done, or (the stream broke) followed on."""
        if done:
            await self.done(exec_id)
        else:
            self._spawn(self._follow_again(exec_id))

    async def done(self, exec_id: str) -> None:
        """Its ``exec_die`` is out (or can never be): nobody follows it again."""
        self._own.discard(exec_id)
        try:
            await self._store.delete(FOLLOWS_PREFIX + exec_id)
        except DockyardError as e:
            log.warning("dropping the note of exec %s: %s", exec_id[:12], e.message)

    def resume(self) -> None:
        """Follow again, in the background, every exec a previous gateway noted."""
        self._spawn(self._resume())

    async def _resume(self) -> None:
        while True:
            try:
                entries = await self._store.get_prefix(FOLLOWS_PREFIX)
                break
            except DockyardError as e:  # etcd not reachable yet
                log.warning("reading the exec notes: %s", e.message)
                await asyncio.sleep(POLL_MAX_SECONDS)
        for entry in entries:
            exec_id = str(entry.key).rpartition("/")[2]
            if exec_id not in self._own:
                self._spawn(self._follow_again(exec_id))

    def _spawn(self, work: Any) -> None:
        task = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _follow_again(self, exec_id: str) -> None:
        delay = POLL_FIRST_SECONDS
        while True:
            try:
                info = await self._execs.inspect_exec(exec_id)
            except NotFound:
                await self.done(exec_id)  # execd forgot it: its exit is not known to anyone
                return
            except DockyardError:
                info = None  # execd down for now: asked again
            if info is not None and info.exit_code is not None:
                await emit_for(self._records, info.container_id, "exec_die",
                               execID=exec_id, exitCode=str(info.exit_code))
                await self.done(exec_id)
                return
            await asyncio.sleep(delay)
            delay = min(delay * 2, POLL_MAX_SECONDS)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task


_follows: ExecFollows | None = None


async def note_detached(exec_id: str, container_id: str) -> None:
    """See :meth:`ExecFollows.note`; nothing without a running gateway's follows (unit tests)."""
    if _follows is not None:
        await _follows.note(exec_id, container_id)


async def detached_settled(exec_id: str, done: bool) -> None:
    """See :meth:`ExecFollows.settled`."""
    if _follows is not None:
        await _follows.settled(exec_id, done)


async def exec_follows(app: web.Application) -> AsyncIterator[None]:
    """The app's lifetime of the follows: notes left by the last gateway are resumed."""
    backends = app[BACKENDS]
    store = backends.store
    if not hasattr(store, "watch_prefix") or backends.processes is None:
        yield  # unit tests' fake store: nothing is kept
        return
    global _follows
    follows = ExecFollows(store, backends.containers, backends.processes)  # type: ignore[arg-type]
    _follows = follows
    try:
        follows.resume()
        yield
    finally:
        if _follows is follows:
            _follows = None
        await follows.close()
