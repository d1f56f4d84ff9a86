"""The etcd store against a real etcd: prefixing, transactions, watches, leases."""

from __future__ import annotations

import asyncio

import pytest

from services.common.errors import Unavailable
from services.common.etcd_store import Store
from tests.support.etcd import free_port


async def test_values_live_under_the_versioned_prefix(store: Store) -> None:
    await store.put("widgets/a", b"1")
    raw = await store.client.get(b"/dockyard/v1/widgets/a")
    assert raw is not None and raw.value == b"1"
    entry = await store.get("widgets/a")
    assert entry is not None and entry.value == b"1" and entry.mod_revision > 0
    assert await store.get("widgets/none") is None


async def test_create_refuses_an_existing_key(store: Store) -> None:
    assert await store.create("names/web", b"id1")
    assert not await store.create("names/web", b"id2")
    entry = await store.get("names/web")
    assert entry is not None and entry.value == b"id1"


async def test_put_if_compares_mod_revision(store: Store) -> None:
    await store.put("records/x", b"v1")
    first = await store.get("records/x")
    assert first is not None
    assert await store.put_if("records/x", b"v2", first.mod_revision)
    # A writer holding the old revision loses: no lost update.
    assert not await store.put_if("records/x", b"v3", first.mod_revision)
    final = await store.get("records/x")
    assert final is not None and final.value == b"v2"


async def test_prefix_reads_counts_and_deletes(store: Store) -> None:
    for name in ("a", "b", "c"):
        await store.put(f"things/{name}", name.encode())
    await store.put("thingsother/z", b"z")
    entries = await store.get_prefix("things/")
    assert [e.key for e in entries] == ["things/a", "things/b", "things/c"]
    assert await store.count_prefix("things/") == 3
    assert await store.delete("things/a")
    assert not await store.delete("things/a")


async def test_watch_sees_puts_and_deletes(store: Store) -> None:
    async with store.watch_prefix("watched/") as events:
        await store.put("watched/k", b"v")
        await store.delete("watched/k")
        first = await asyncio.wait_for(anext(events), 5)
        second = await asyncio.wait_for(anext(events), 5)
    assert (first.key, first.value) == ("watched/k", b"v")
    assert (second.key, second.value) == ("watched/k", None)


async def test_leased_keys_expire(store: Store) -> None:
    lease = await store.grant_lease(1)
    await store.put("events/e1", b"x", lease=lease)
    assert await store.get("events/e1") is not None
    for _ in range(40):
        if await store.get("events/e1") is None:
            break
        await asyncio.sleep(0.1)
    assert await store.get("events/e1") is None


async def test_unreachable_etcd_is_unavailable() -> None:
    store = Store([f"http://127.0.0.1:{free_port()}"], timeout=1)
    with pytest.raises(Unavailable, match="etcd is unreachable"):
        await store.connect()


async def test_commit_writes_several_keys_or_none(store: Store) -> None:
    from services.common.etcd_store import Absent, AtRevision, Delete, Put

    assert await store.commit([Absent("r/1"), Absent("n/a")], [Put("r/1", b"x"), Put("n/a", b"1")])
    # A failed condition writes nothing, not even the keys whose condition held.
    assert not await store.commit(
        [Absent("r/2"), Absent("n/a")], [Put("r/2", b"y"), Put("n/a", b"2")]
    )
    assert await store.get("r/2") is None
    name = await store.get("n/a")
    assert name is not None and name.value == b"1"
    record = await store.get("r/1")
    assert record is not None
    assert await store.commit(
        [AtRevision("r/1", record.mod_revision)], [Delete("r/1"), Delete("n/a")]
    )
    assert await store.get("r/1") is None and await store.get("n/a") is None
    # A stale revision is refused.
    assert not await store.commit([AtRevision("r/1", record.mod_revision)], [Put("r/1", b"z")])
