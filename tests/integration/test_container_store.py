"""Container records against a real etcd: name uniqueness, lookups, updates, renames."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from gateway.containers.records import ContainerRecord, new_container_id
from gateway.containers.store import ContainerStore
from services.common.errors import Conflict, InvalidArgument, NotFound
from services.common.etcd_store import Store


def record(name: str, container_id: str | None = None) -> ContainerRecord:
    return ContainerRecord(
        id=container_id or new_container_id(), name=name,
        created="2024-01-01T00:00:00.123456789Z", path="echo", args=("hi",),
        config={"Image": "busybox", "Cmd": ["echo", "hi"]}, host_config={"NetworkMode": "bridge"},
        networking_config={}, image_id="sha256:" + "a" * 64, image_name="busybox",
    )


async def test_twenty_concurrent_creates_of_one_name_one_wins(store: Store) -> None:
    containers = ContainerStore(store)
    candidates = [record("/web") for _ in range(20)]
    results = await asyncio.gather(
        *(containers.create(c) for c in candidates), return_exceptions=True
    )
    winners = [c for c, r in zip(candidates, results, strict=True) if r is None]
    assert len(winners) == 1
    losers = [r for r in results if r is not None]
    assert all(isinstance(r, Conflict) for r in losers)
    assert str(losers[0]) == (
        f'Conflict. The container name "/web" is already in use by container "{winners[0].id}". '
        "You have to remove (or rename) that container to be able to reuse that name."
    )
    # Only the winner's record exists: a loser left nothing behind.
    assert [r.id for r in await containers.list()] == [winners[0].id]


async def test_lookup_by_id_name_and_unique_prefix(store: Store) -> None:
    containers = ContainerStore(store)
    first = record("/first", "abc1" + "0" * 60)
    second = record("/second", "abc2" + "0" * 60)
    await containers.create(first)
    await containers.create(second)
    assert await containers.get(first.id) == first
    assert await containers.get("first") == first
    assert await containers.get("/second") == second
    assert await containers.get("abc2") == second
    with pytest.raises(InvalidArgument, match=r"^multiple IDs found with provided prefix: abc$"):
        await containers.get("abc")
    with pytest.raises(NotFound, match=r"^No such container: nope$"):
        await containers.get("nope")
    with pytest.raises(NotFound, match=r"^No such container: abd$"):
        await containers.get("abd")


async def test_a_name_wins_over_an_id_prefix(store: Store) -> None:
    containers = ContainerStore(store)
    by_id = record("/other", "beef" + "0" * 60)
    named = record("/beef")
    await containers.create(by_id)
    await containers.create(named)
    assert (await containers.get("beef")).id == named.id


async def test_concurrent_updates_are_not_lost(store: Store) -> None:
    containers = ContainerStore(store)
    base = replace(record("/counter"), config={"n": 0})
    await containers.create(base)

    def bump(current: ContainerRecord) -> ContainerRecord:
        return replace(current, config={"n": current.config["n"] + 1})

    await asyncio.gather(*(containers.update(base.id, bump) for _ in range(10)))
    assert (await containers.get(base.id)).config == {"n": 10}


async def test_delete_releases_the_name(store: Store) -> None:
    containers = ContainerStore(store)
    first = record("/reuse")
    await containers.create(first)
    await containers.delete(first.id)
    with pytest.raises(NotFound):
        await containers.get("reuse")
    await containers.create(record("/reuse"))
    with pytest.raises(NotFound, match=f"No such container: {first.id}"):
        await containers.delete(first.id)


async def test_rename_moves_the_reservation(store: Store) -> None:
    containers = ContainerStore(store)
    a, b = record("/a1"), record("/b1")
    await containers.create(a)
    await containers.create(b)
    renamed = await containers.rename("a1", "c1")
    assert renamed.name == "/c1" and (await containers.get("c1")).id == a.id
    with pytest.raises(NotFound):
        await containers.get("a1")
    await containers.create(record("/a1"))  # the old name is free again
    with pytest.raises(Conflict, match='^Error when allocating new name: Conflict. The container '
                       f'name "/b1" is already in use by container "{b.id}"'):
        await containers.rename("c1", "b1")
    with pytest.raises(InvalidArgument, match="same name as its current name"):
        await containers.rename("c1", "/c1")
    with pytest.raises(InvalidArgument, match=r"^Error when allocating new name: Invalid container "
                       r"name \(b@d\), only \[a-zA-Z0-9\]\[a-zA-Z0-9_.-\] are allowed$"):
        await containers.rename("c1", "b@d")


async def test_concurrent_renames_to_one_name_one_wins(store: Store) -> None:
    containers = ContainerStore(store)
    sources = [record(f"/src{i}") for i in range(10)]
    for source in sources:
        await containers.create(source)
    results = await asyncio.gather(
        *(containers.rename(s.id, "target") for s in sources), return_exceptions=True
    )
    assert sum(1 for r in results if isinstance(r, ContainerRecord)) == 1
    names = sorted(r.name for r in await containers.list())
    assert names.count("/target") == 1 and len(names) == 10
    # Every loser still holds its own name.
    for source, result in zip(sources, results, strict=True):
        if isinstance(result, Conflict):
            assert (await containers.get(source.short_name)).id == source.id


# ---- writes that start from the record as last read (another gateway wrote meanwhile) ----


async def test_an_update_from_a_stale_read_applies_to_what_is_stored(store: Store) -> None:
    here, elsewhere = ContainerStore(store), ContainerStore(store)
    base = replace(record("/stale-update"), config={"n": 0, "label": "old"})
    await here.create(base)
    assert (await here.get(base.id)).config["n"] == 0  # read, then changed elsewhere
    await elsewhere.update(base.id, lambda r: replace(r, config={**r.config, "n": 5}))

    updated = await here.update(base.id, lambda r: replace(r, config={**r.config, "label": "new"}))

    assert updated.config == {"n": 5, "label": "new"}
    assert (await elsewhere.get(base.id)).config == {"n": 5, "label": "new"}


async def test_an_update_that_changes_nothing_on_a_stale_read_still_writes(store: Store) -> None:
    here, elsewhere = ContainerStore(store), ContainerStore(store)
    base = replace(record("/stale-noop"), config={"mode": "a"})
    await here.create(base)
    await here.get(base.id)
    await elsewhere.update(base.id, lambda r: replace(r, config={"mode": "b"}))

    await here.update(base.id, lambda r: replace(r, config={"mode": "a"}))

    assert (await elsewhere.get(base.id)).config == {"mode": "a"}


async def test_an_update_refused_on_a_stale_read_is_judged_on_what_is_stored(
    store: Store,
) -> None:
    here, elsewhere = ContainerStore(store), ContainerStore(store)
    base = replace(record("/stale-refused"), config={"ready": False})
    await here.create(base)
    await here.get(base.id)
    await elsewhere.update(base.id, lambda r: replace(r, config={"ready": True}))

    def only_when_ready(current: ContainerRecord) -> ContainerRecord:
        if not current.config["ready"]:
            raise InvalidArgument("not ready")
        return replace(current, config={"ready": True, "done": True})

    assert (await here.update(base.id, only_when_ready)).config == {"ready": True, "done": True}


async def test_a_delete_after_a_rename_elsewhere_releases_the_new_name(store: Store) -> None:
    here, elsewhere = ContainerStore(store), ContainerStore(store)
    base = record("/before-rename")
    await here.create(base)
    await here.get(base.id)
    await elsewhere.rename(base.id, "after-rename")

    await here.delete(base.id)

    with pytest.raises(NotFound):
        await elsewhere.get(base.id)
    await here.create(record("/after-rename"))  # the name went with the record
    await here.create(record("/before-rename"))
