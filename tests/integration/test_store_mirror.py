"""The gateway's store mirror against a real etcd: what it answers, and how fresh."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway.store_mirror import StoreMirror, announce_change
from services.common.etcd_store import Store

PREFIXES = ("boxes/", "box-names/")


@pytest.fixture
async def writer(etcd_url: str) -> AsyncIterator[Store]:
    """Another client, as execd or netd writing keys the gateway did not write."""
    store = Store([etcd_url])
    await store.connect()
    yield store
    await store.close()


@pytest.fixture
async def mirror(store: Store) -> AsyncIterator[StoreMirror]:
    await store.put("boxes/early", b"loaded")
    mirror = StoreMirror(store, PREFIXES)
    mirror.start()
    yield mirror
    await mirror.close()


async def _until_ready(mirror: StoreMirror) -> None:
    for _ in range(200):
        if mirror.ready:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the mirror's watch never started")


async def test_every_read_after_an_announced_change_sees_it(
    mirror: StoreMirror, writer: Store
) -> None:
    await _until_ready(mirror)
    for n in range(150):
        await writer.put("boxes/a", str(n).encode())
        announce_change()
        entry = await mirror.get("boxes/a")
        assert entry is not None and entry.value == str(n).encode()
    await writer.delete("boxes/a")
    announce_change()
    assert await mirror.get("boxes/a") is None


async def test_answers_from_memory_what_was_there_before_it_started(
    mirror: StoreMirror,
) -> None:
    await _until_ready(mirror)
    entry = await mirror.get("boxes/early")
    assert entry is not None and entry.value == b"loaded"
    assert mirror.served_from_memory > 0


async def test_unannounced_changes_arrive_by_the_watch(mirror: StoreMirror, writer: Store) -> None:
    await _until_ready(mirror)
    await writer.put("boxes/quiet", b"1")
    for _ in range(200):
        entry = await mirror.get("boxes/quiet")
        if entry is not None:
            break
        await asyncio.sleep(0.005)
    assert entry is not None and entry.value == b"1"


async def test_prefix_reads_in_key_order_like_etcd(
    mirror: StoreMirror, store: Store, writer: Store
) -> None:
    await _until_ready(mirror)
    for name in ("c", "a", "b", "ab"):
        await writer.put(f"boxes/{name}", name.encode())
    await writer.put("box-names/a", b"x")
    announce_change()
    from_mirror = await mirror.get_prefix("boxes/a")
    assert [e.key for e in from_mirror] == ["boxes/a", "boxes/ab"]
    assert ([(e.key, e.value, e.mod_revision) for e in await mirror.get_prefix("boxes/")]
            == [(e.key, e.value, e.mod_revision) for e in await store.get_prefix("boxes/")])


async def test_keys_it_does_not_keep_are_read_from_etcd(
    mirror: StoreMirror, writer: Store
) -> None:
    await _until_ready(mirror)
    await writer.put("other/k", b"v")
    entry = await mirror.get("other/k")
    assert entry is not None and entry.value == b"v"
    assert [e.key for e in await mirror.get_prefix("other/")] == ["other/k"]


async def test_reads_go_to_etcd_until_the_watch_runs(store: Store, writer: Store) -> None:
    mirror = StoreMirror(store, PREFIXES)  # never started
    try:
        await writer.put("boxes/z", b"direct")
        entry = await mirror.get("boxes/z")
        assert entry is not None and entry.value == b"direct"
        assert mirror.served_from_memory == 0
    finally:
        await mirror.close()


async def test_a_lost_connection_falls_back_then_reloads(etcd_url: str, writer: Store) -> None:
    own = Store([etcd_url])
    await own.connect()
    mirror = StoreMirror(own, PREFIXES)
    mirror.start()
    try:
        await _until_ready(mirror)
        await own.close()  # as when etcd restarts: the watch ends
        for _ in range(200):
            if not mirror.ready:
                break
            await asyncio.sleep(0.01)
        assert not mirror.ready
        await writer.put("boxes/meanwhile", b"written while the mirror was blind")
        await own.connect()
        await _until_ready(mirror)
        before = mirror.served_from_memory
        entry = await mirror.get("boxes/meanwhile")
        assert entry is not None and entry.value == b"written while the mirror was blind"
        assert mirror.served_from_memory == before + 1
    finally:
        await mirror.close()
        await own.close()
