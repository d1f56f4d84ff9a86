"""Parts of Dockyard's etcd keyspace held in the gateway's memory, kept current by a watch.

``docker inspect`` and ``docker ps`` are the most frequent calls clients make
(compose, IDEs and monitoring agents poll them); dockerd answers them from
memory. Reading etcd per request costs a round trip per key, so the gateway
keeps execd's runtime states and the health results here and answers reads
without a network call (the container records and names, which only the
gateway writes, it keeps as their owner: services/common/owned_keys.py).

Consistency: a read never shows less than what a client could already know.
Whatever tells a client that something changed — an API request that returns,
an event emitted, a runtime change the gateway's watcher saw — calls
:func:`announce_change` first, which marks every mirror stale; the next read
then asks etcd for its current revision and waits until the watch has
delivered it (about a millisecond, once per change rather than per read). A
change nobody announced shows up as fast as the watch delivers it. While the
watch is down (etcd restarting, a compacted revision) or lagging beyond
:data:`SYNC_WAIT_SECONDS`, reads go to etcd itself.

The one watch covers the whole ``/dockyard/v1/`` keyspace, so the mirror's
revision follows etcd's even when only keys it does not keep changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncIterator, Sequence
from typing import Protocol

from services.common.etcd_store import Entry, WatchEvent

log = logging.getLogger(__name__)

SYNC_WAIT_SECONDS = 1.0
"""How long a read waits for the watch to catch up before it reads etcd instead."""
RETRY_SECONDS = 0.5
"""Pause before the watch is re-established after it ended."""

_MIRRORS: weakref.WeakSet[StoreMirror] = weakref.WeakSet()


def announce_change() -> None:
    """A client may now know of a change: the next read of every mirror catches up first."""
    for mirror in _MIRRORS:
        mirror.mark_stale()


class WatchableStore(Protocol):
    """The part of :class:`services.common.etcd_store.Store` the mirror uses."""

    async def get(self, key: str) -> Entry | None: ...
    async def get_prefix(self, prefix: str) -> list[Entry]: ...
    async def get_prefix_at(self, prefix: str) -> tuple[list[Entry], int]: ...
    async def current_revision(self) -> int: ...
    def watch_prefix(
        self, prefix: str, *, start_revision: int | None = None
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[WatchEvent]]: ...


class StoreMirror:
    """Reads of ``prefixes`` from memory, with :class:`Store`'s ``get``/``get_prefix`` shape."""

    def __init__(self, store: WatchableStore, prefixes: Sequence[str]) -> None:
        self._store = store
        self._prefixes = tuple(prefixes)
        self._kept: dict[str, dict[str, Entry]] = {p: {} for p in self._prefixes}
        self._loaded_at: dict[str, int] = {}
        self._revision = 0
        self._ready = False
        self._stale = 0
        """Incremented by every announced change."""
        self._synced = 0
        """The value of ``_stale`` the last completed catch-up started from."""
        self._sync: asyncio.Task[bool] | None = None
        self._sync_from = 0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self.served_from_memory = 0
        """Reads answered without etcd (tests and benches check the mirror is in use)."""
        _MIRRORS.add(self)

    @property
    def ready(self) -> bool:
        """Whether the watch runs, so reads may be answered from memory."""
        return self._ready

    # ---- lifetime ----------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    async def close(self) -> None:
        _MIRRORS.discard(self)
        self._ready = False
        for task in (self._task, self._sync):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _run(self) -> None:
        while True:
            try:
                await self._load_and_follow()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("store mirror: watch ended, reading etcd meanwhile: %s", e)
            self._ready = False
            await asyncio.sleep(RETRY_SECONDS)

    async def _load_and_follow(self) -> None:
        # Each prefix is read at its own revision; the watch starts after the
        # oldest, and an event applies to a prefix only past that prefix's read.
        for prefix in self._prefixes:
            entries, revision = await self._store.get_prefix_at(prefix)
            self._kept[prefix] = {e.key: e for e in entries}
            self._loaded_at[prefix] = revision
        start = min(self._loaded_at.values())
        self._revision = start
        async with self._store.watch_prefix("", start_revision=start + 1) as events:
            self._ready = True
            self._wake()
            async for event in events:
                self._apply(event)

    def _apply(self, event: WatchEvent) -> None:
        if event.mod_revision > self._revision:
            self._revision = event.mod_revision
        for prefix in self._prefixes:
            if event.key.startswith(prefix):
                if event.mod_revision > self._loaded_at[prefix]:
                    kept = self._kept[prefix]
                    if event.value is None:
                        kept.pop(event.key, None)
                    else:
                        kept[event.key] = Entry(event.key, event.value, event.mod_revision)
                break
        # Waiters resume once this loop yields, i.e. when the watch has handed
        # over every event it received with this one (a whole revision).
        self._wake()

    def _wake(self) -> None:
        if not self._waiters:
            return
        waiting = []
        for target, future in self._waiters:
            if self._revision >= target and not future.done():
                future.set_result(None)
            elif not future.done():
                waiting.append((target, future))
        self._waiters = waiting

    # ---- freshness ---------------------------------------------------------------------

    def mark_stale(self) -> None:
        self._stale += 1

    async def _fresh(self) -> bool:
        """Whether memory may answer now: caught up with every change announced so far."""
        if not self._ready:
            return False
        needed = self._stale
        while self._synced < needed:
            # A catch-up that asked etcd before this change was announced may
            # not cover it: join only one that started from it or later.
            if self._sync is None or self._sync.done() or self._sync_from < needed:
                self._sync_from = self._stale
                self._sync = asyncio.ensure_future(self._catch_up(self._sync_from))
            if not await asyncio.shield(self._sync):
                return False
        return True

    async def _catch_up(self, generation: int) -> bool:
        try:
            target = await self._store.current_revision()
        except Exception:
            return False
        if self._revision < target:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append((target, future))
            try:
                await asyncio.wait_for(future, SYNC_WAIT_SECONDS)
            except TimeoutError:
                log.warning("store mirror: watch behind etcd after %.1f s (at %d, etcd at %d)",
                            SYNC_WAIT_SECONDS, self._revision, target)
                return False
        self._synced = max(self._synced, generation)
        return self._ready

    # ---- reads -------------------------------------------------------------------------

    def _holding(self, key: str) -> dict[str, Entry] | None:
        for prefix in self._prefixes:
            if key.startswith(prefix):
                return self._kept[prefix]
        return None

    async def get(self, key: str) -> Entry | None:
        kept = self._holding(key)
        if kept is None or not await self._fresh():
            return await self._store.get(key)
        self.served_from_memory += 1
        return kept.get(key)

    async def get_prefix(self, prefix: str) -> list[Entry]:
        kept = self._holding(prefix)
        if kept is None or not await self._fresh():
            return await self._store.get_prefix(prefix)
        self.served_from_memory += 1
        # etcd's order: by key.
        return sorted((e for k, e in kept.items() if k.startswith(prefix)),
                      key=lambda e: e.key)
