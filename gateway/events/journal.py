"""Events kept in etcd under a lease, and fanned out to ``/events`` subscribers.

:meth:`EventJournal.emit` never waits: it stamps the event and queues it for
one writer task, which puts it at ``events/<timeNano>-<random>`` under a lease
(so old events expire on their own) in the order they were emitted. One etcd
watch of the prefix feeds every subscriber's bounded queue; a subscriber that
falls too far behind is dropped (its stream ends) rather than slow the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Protocol

from gateway.events.message import event_message

log = logging.getLogger(__name__)

EVENTS_PREFIX = "events/"
LEASE_SECONDS = 300
"""How long an event stays replayable with ``since``."""
LEASE_RENEW_SECONDS = 60.0
"""A new lease is taken this often, so each event lives between 240 and 300 s."""
WRITE_BACKLOG = 10_000
"""Events waiting for etcd beyond this are dropped (and logged): emit never blocks."""
WRITE_BATCH = 64
"""Events written in one transaction at most (etcd takes up to 128 operations in one)."""
SUBSCRIBER_BACKLOG = 1_000
RETRY_SECONDS = 0.5


class EventStore(Protocol):
    async def put_all(self, pairs: Sequence[tuple[str, bytes]], *, lease: Any = None) -> None: ...
    async def get_prefix(self, prefix: str) -> list[Any]: ...
    async def grant_lease(self, ttl_seconds: int) -> Any: ...
    def watch_prefix(
        self, prefix: str, *, start_revision: int | None = None
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[Any]]: ...


class StreamEnded(Exception):
    """The subscriber fell too far behind, or the journal closed: its stream ends."""


class Subscription:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[str, dict[str, Any]] | None] = asyncio.Queue(
            SUBSCRIBER_BACKLOG
        )
        self.dropped = False

    def offer(self, key: str, message: dict[str, Any]) -> None:
        if self.dropped:
            return
        try:
            self.queue.put_nowait((key, message))
        except asyncio.QueueFull:
            self.finish()

    def finish(self) -> None:
        """End the stream: the reader wakes and stops."""
        self.dropped = True
        # Make room for the end marker.
        with contextlib.suppress(asyncio.QueueEmpty):
            while self.queue.full():
                self.queue.get_nowait()
        self.queue.put_nowait(None)

    async def next(self) -> tuple[str, dict[str, Any]]:
        item = await self.queue.get()
        if item is None:
            raise StreamEnded()
        return item


def event_key(time_nano: int) -> str:
    return f"{EVENTS_PREFIX}{time_nano:020d}-{os.urandom(4).hex()}"


class EventJournal:
    def __init__(self, store: EventStore) -> None:
        self._store = store
        self._pending: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(WRITE_BACKLOG)
        self._subscribers: set[Subscription] = set()
        self._last_nano = 0
        self._tasks: list[asyncio.Task[None]] = []
        self.watching = asyncio.Event()

    def start(self) -> None:
        self._tasks = [
            asyncio.ensure_future(self._write()),
            asyncio.ensure_future(self._watch()),
        ]

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=0.5)
        for subscription in self._subscribers:
            subscription.finish()
        self._subscribers.clear()

    # ---- writing ------------------------------------------------------------------

    def emit(
        self, event_type: str, action: str, actor_id: str, attributes: Mapping[str, str]
    ) -> None:
        # Strictly increasing, so keys sort in emit order even within one clock tick.
        now = max(time.time_ns(), self._last_nano + 1)
        self._last_nano = now
        message = event_message(event_type, action, actor_id, attributes, now)
        try:
            self._pending.put_nowait((event_key(now), json.dumps(message).encode()))
        except asyncio.QueueFull:
            log.warning("event %s %s of %s dropped: etcd is behind", event_type, action, actor_id)

    async def _write(self) -> None:
        lease: Any = None
        lease_taken = 0.0
        while True:
            # What was emitted while the last write was under way goes in one
            # transaction (bursts: prunes, compose down, many containers at
            # once): one etcd proposal and disk sync rather than one each.
            batch = [await self._pending.get()]
            while len(batch) < WRITE_BATCH and not self._pending.empty():
                batch.append(self._pending.get_nowait())
            while True:
                try:
                    if lease is None or time.monotonic() - lease_taken > LEASE_RENEW_SECONDS:
                        lease = await self._store.grant_lease(LEASE_SECONDS)
                        lease_taken = time.monotonic()
                    await self._store.put_all(batch, lease=lease)
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as e:  # etcd restarting: keep the events, try again
                    log.warning("writing event %s failed: %s", batch[0][0], e)
                    lease = None
                    await asyncio.sleep(RETRY_SECONDS)

    # ---- reading ------------------------------------------------------------------

    async def _watch(self) -> None:
        while True:
            try:
                async with self._store.watch_prefix(EVENTS_PREFIX) as changes:
                    self.watching.set()
                    async for change in changes:
                        if change.value is None:
                            continue  # an expired event
                        self._deliver(str(change.key), change.value)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("watch of events ended: %s", e)
            self.watching.clear()
            await asyncio.sleep(RETRY_SECONDS)

    def _deliver(self, key: str, value: bytes) -> None:
        try:
            message = json.loads(value)
        except ValueError:
            return
        for subscription in list(self._subscribers):
            subscription.offer(key, message)
            if subscription.dropped:
                self._subscribers.discard(subscription)

    def subscribe(self) -> Subscription:
        subscription = Subscription()
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    async def history(self, since_nano: int) -> list[tuple[str, dict[str, Any]]]:
        """Stored events from ``since_nano`` on, oldest first."""
        found = []
        for entry in await self._store.get_prefix(EVENTS_PREFIX):
            key = str(entry.key)
            stamp = key[len(EVENTS_PREFIX):].partition("-")[0]
            if not stamp.isdigit() or int(stamp) < since_nano:
                continue
            with contextlib.suppress(ValueError):
                found.append((key, json.loads(entry.value)))
        found.sort(key=lambda item: item[0])
        return found
