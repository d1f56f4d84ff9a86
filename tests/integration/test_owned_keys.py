"""A service's own keys in its memory (services/common/owned_keys.py) against a real etcd.

What the owner reads is what etcd holds, without asking etcd each time; and
whenever memory may be wrong (someone else wrote, a write's outcome is
unknown, a write raced the first read) it asks etcd again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from services.common.etcd_store import Absent, AtRevision, Delete, Entry, Put, Store
from services.common.owned_keys import OwnedKeys

PREFIXES = ("boxes/", "box-names/")


@pytest.fixture
async def other(etcd_url: str) -> AsyncIterator[Store]:
    """Another client of the same etcd: what etcd really holds, and a foreign writer."""
    store = Store([etcd_url])
    await store.connect()
    yield store
    await store.close()


@pytest.fixture
def owned(store: Store) -> OwnedKeys:
    return OwnedKeys(store, PREFIXES)


async def test_reads_after_the_first_come_from_memory_and_match_etcd(
    owned: OwnedKeys, other: Store
) -> None:
    await other.put("boxes/a", b"1")
    await other.put("boxes/b", b"2")

    first = await owned.get("boxes/a")
    assert first == await other.get("boxes/a")
    before = owned.served_from_memory
    assert [e.key for e in await owned.get_prefix("boxes/")] == ["boxes/a", "boxes/b"]
    assert await owned.get("boxes/missing") is None
    assert await owned.count_prefix("boxes/") == 2
    assert owned.served_from_memory == before + 3


async def test_own_writes_are_read_back_with_etcds_revisions(
    owned: OwnedKeys, other: Store
) -> None:
    await owned.get_prefix("boxes/")  # loaded
    await owned.put("boxes/a", b"1")
    assert await owned.create("box-names/x", b"a")
    assert await owned.commit([Absent("boxes/b")], [Put("boxes/b", b"2"), Delete("boxes/a")])

    for key in ("boxes/a", "boxes/b", "box-names/x"):
        assert await owned.get(key) == await other.get(key)
    entry = await owned.get("boxes/b")
    assert entry is not None
    # Compare-and-swap works on the revision memory answered.
    assert await owned.put_if("boxes/b", b"3", entry.mod_revision)
    assert await owned.get("boxes/b") == await other.get("boxes/b")
    assert await owned.delete("boxes/b")
    assert await owned.get("boxes/b") is None
    assert await other.get("boxes/b") is None


async def test_a_condition_that_fails_against_memory_brings_etcds_view_back(
    owned: OwnedKeys, other: Store
) -> None:
    await owned.put("boxes/a", b"mine")
    entry = await owned.get("boxes/a")
    assert entry is not None
    await other.put("boxes/a", b"theirs")  # behind the owner's back
    assert (await owned.get("boxes/a")) == entry  # memory does not know yet

    assert not await owned.put_if("boxes/a", b"again", entry.mod_revision)

    assert await owned.get("boxes/a") == await other.get("boxes/a")
    assert (await owned.get("boxes/a")).value == b"theirs"  # type: ignore[union-attr]


async def test_a_failed_create_of_a_key_memory_lacked_brings_it_in(
    owned: OwnedKeys, other: Store
) -> None:
    await owned.get_prefix("box-names/")
    await other.put("box-names/x", b"theirs")

    assert not await owned.create("box-names/x", b"mine")

    assert (await owned.get("box-names/x")).value == b"theirs"  # type: ignore[union-attr]


async def test_a_write_cut_short_leaves_memory_to_etcd(owned: OwnedKeys, other: Store) -> None:
    await owned.put("boxes/a", b"1")
    write = asyncio.ensure_future(owned.put("boxes/a", b"2"))
    await asyncio.sleep(0)
    write.cancel()
    with pytest.raises(asyncio.CancelledError):
        await write

    # Whether the write landed is unknown: the answer is etcd's, either way.
    assert await owned.get("boxes/a") == await other.get("boxes/a")


async def test_a_write_during_the_first_read_is_not_lost(
    owned: OwnedKeys, other: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    await other.put("boxes/a", b"old")
    read_etcd = Store.get_prefix

    async def slow_answer(self: Store, prefix: str) -> list[Entry]:
        entries = await read_etcd(self, prefix)
        await asyncio.sleep(0.2)  # the answer is on its way while the write lands
        return entries

    monkeypatch.setattr(Store, "get_prefix", slow_answer)
    read = asyncio.ensure_future(owned.get("boxes/a"))
    await asyncio.sleep(0.1)  # etcd has answered the first read with "old"
    await owned.put("boxes/a", b"new")
    await read
    monkeypatch.undo()

    assert (await owned.get("boxes/a")).value == b"new"  # type: ignore[union-attr]
    assert await owned.get_prefix("boxes/") == await other.get_prefix("boxes/")


async def test_keys_with_a_lease_are_not_kept(owned: OwnedKeys, other: Store) -> None:
    lease = await owned.grant_lease(1)
    await owned.put("boxes/leased", b"1", lease=lease)
    await other.client.revoke_lease(lease.id)

    assert await owned.get("boxes/leased") is None


async def test_other_keys_are_read_from_etcd(owned: OwnedKeys, other: Store) -> None:
    await other.put("elsewhere/a", b"1")
    assert (await owned.get("elsewhere/a")).value == b"1"  # type: ignore[union-attr]
    await other.put("elsewhere/a", b"2")
    assert (await owned.get("elsewhere/a")).value == b"2"  # type: ignore[union-attr]
    assert owned.served_from_memory == 0


async def test_writes_finishing_out_of_order_keep_the_later_one(
    owned: OwnedKeys, other: Store
) -> None:
    await owned.get_prefix("boxes/")
    writes = [owned.put("boxes/a", str(i).encode()) for i in range(20)]
    writes += [owned.commit([AtRevision("boxes/none", 0)], [Delete("boxes/a")])]
    await asyncio.gather(*writes)

    assert await owned.get("boxes/a") == await other.get("boxes/a")


async def test_deleting_what_it_does_not_hold_asks_etcd_nothing(
    owned: OwnedKeys, monkeypatch: pytest.MonkeyPatch
) -> None:
    await owned.get_prefix("boxes/")
    asked: list[str] = []
    delete_at = Store.delete_at

    async def counted(self: Store, key: str) -> int | None:
        asked.append(key)
        return await delete_at(self, key)

    monkeypatch.setattr(Store, "delete_at", counted)

    assert not await owned.delete("boxes/never")
    assert asked == []
    await owned.put("boxes/a", b"1")
    assert await owned.delete("boxes/a")
    assert asked == ["boxes/a"]
