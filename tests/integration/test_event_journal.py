"""The event journal against a real etcd: leased keys, replay, live fan-out, slow readers."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest

from gateway.events import journal as journal_module
from gateway.events.journal import EVENTS_PREFIX, EventJournal, StreamEnded
from services.common.etcd_store import Store


@pytest.fixture
async def journal(store: Store) -> AsyncIterator[EventJournal]:
    journal = EventJournal(store)
    journal.start()
    await asyncio.wait_for(journal.watching.wait(), 5)
    yield journal
    await journal.close()


async def stored_count(store: Store) -> int:
    return await store.count_prefix(EVENTS_PREFIX)


async def settled_count(store: Store, wanted: Callable[[int], bool], seconds: float) -> int:
    """The number of stored events once ``wanted`` holds for it (or ``seconds`` passed)."""
    for _ in range(int(seconds / 0.02)):
        count = await stored_count(store)
        if wanted(count):
            return count
        await asyncio.sleep(0.02)
    return await stored_count(store)


async def test_live_events_arrive_in_order_with_their_keys(journal: EventJournal) -> None:
    subscription = journal.subscribe()
    for n in range(5):
        journal.emit("volume", "create", f"v{n}", {"driver": "local"})
    received = [await asyncio.wait_for(subscription.next(), 5) for _ in range(5)]
    assert [m["Actor"]["ID"] for _, m in received] == [f"v{n}" for n in range(5)]
    keys = [k for k, _ in received]
    assert keys == sorted(keys) and all(k.startswith(EVENTS_PREFIX) for k in keys)
    journal.unsubscribe(subscription)


async def test_history_replays_from_since(journal: EventJournal, store: Store) -> None:
    journal.emit("network", "create", "old", {})
    assert await settled_count(store, lambda n: n == 1, 5) == 1
    since = time.time_ns()
    journal.emit("network", "create", "new", {})
    assert await settled_count(store, lambda n: n == 2, 5) == 2
    replayed = await journal.history(since)
    assert [m["Actor"]["ID"] for _, m in replayed] == ["new"]


async def test_events_expire_with_their_lease(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal_module, "LEASE_SECONDS", 1)
    journal = EventJournal(store)
    journal.start()
    try:
        journal.emit("volume", "destroy", "gone", {})
        assert await settled_count(store, lambda n: n == 1, 5) == 1
        assert await settled_count(store, lambda n: n == 0, 10) == 0
    finally:
        await journal.close()


async def test_a_reader_that_stops_reading_is_dropped_and_others_still_get_everything(
    journal: EventJournal,
) -> None:
    stalled = journal.subscribe()
    reader = journal.subscribe()
    total = journal_module.SUBSCRIBER_BACKLOG + 20
    started = time.monotonic()
    for n in range(total):
        journal.emit("container", "resize", f"c{n}", {})
    assert time.monotonic() - started < 1.0  # emitting never waits for anyone
    got = [await asyncio.wait_for(reader.next(), 10) for _ in range(total)]
    assert [m["Actor"]["ID"] for _, m in got] == [f"c{n}" for n in range(total)]
    assert stalled.dropped
    with pytest.raises(StreamEnded):
        while True:
            await asyncio.wait_for(stalled.next(), 5)


async def test_a_burst_is_written_in_few_transactions_and_arrives_whole_in_order(
    journal: EventJournal, store: Store
) -> None:
    subscription = journal.subscribe()
    total = journal_module.WRITE_BATCH * 2 + 10
    for n in range(total):
        journal.emit("container", "die", f"c{n}", {})
    received = [await asyncio.wait_for(subscription.next(), 5) for _ in range(total)]
    assert [m["Actor"]["ID"] for _, m in received] == [f"c{n}" for n in range(total)]
    stored = await store.get_prefix(EVENTS_PREFIX)
    assert len(stored) == total
    # Emitted while a write was under way, they share transactions (one revision each).
    assert len({e.mod_revision for e in stored}) <= total // journal_module.WRITE_BATCH + 2
    journal.unsubscribe(subscription)
