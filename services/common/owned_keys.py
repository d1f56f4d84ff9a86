"""A service's own etcd keys held in its memory: reads of them cost no round trip.

Every service is the only writer of its keys (DESIGN.md, "Who owns what"),
so what it wrote is what etcd holds, and a copy in memory answers its reads
as etcd would. The start path of every container reads the same few records
again and again (the image, its layer, the snapshot, the network, the cgroup):
each read was a round trip to etcd (about a millisecond, and etcd CPU) on the
way of every ``docker run``.

A prefix is read from etcd whole on its first use; from then on every write
this process makes through the store goes to etcd first and, once etcd has
taken it, into memory with the revision etcd gave it (so compare-and-swap on
``mod_revision`` works on what memory answers); a delete of a key memory does
not hold is answered without etcd. Whenever memory may differ
from etcd it is dropped and read again on the next use: a write whose outcome
is unknown (etcd unreachable mid-call), a condition that failed (someone
else's write: memory was wrong), a write with a lease (the key may expire).
A write during the first read of its prefix makes that read's copy unusable
(it may predate the write); the read then answers from etcd.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

from services.common.etcd_store import (
    AtRevision,
    Condition,
    Delete,
    Entry,
    Put,
    Store,
    Write,
)

T = TypeVar("T")


class OwnedKeys(Store):
    """``store`` with the keys under ``prefixes`` answered from memory (see the module doc).

    Shares ``store``'s connection; closing it leaves that connection to its owner.
    """

    def __init__(self, store: Store, prefixes: Sequence[str]) -> None:
        super().__init__(store.endpoints)
        self._shared = store
        self._prefixes = tuple(prefixes)
        self._kept: dict[str, dict[str, Entry]] = {}
        """Loaded prefixes: every key etcd holds under each, with its entry."""
        self._loading: dict[str, asyncio.Task[None]] = {}
        self._generation: dict[str, int] = dict.fromkeys(self._prefixes, 0)
        """Bumped whenever a prefix's memory may be wrong: a load from before it is discarded."""
        self._writing: dict[str, int] = dict.fromkeys(self._prefixes, 0)
        """Writes in flight per prefix."""
        self._gone: dict[str, int] = {}
        """Revisions of deletes, kept while writes of their prefix are in flight: a put
        that etcd took before the delete and that finishes after it must not bring the
        key back."""
        self.served_from_memory = 0
        """Reads answered without etcd (tests check the copy is in use)."""

    @property
    def client(self) -> Any:
        return self._shared.client

    async def close(self) -> None:
        """The connection is ``store``'s: nothing of ours to close."""

    # ---- which keys are ours, and what memory holds of them ------------------------

    def _owner(self, key: str) -> str | None:
        for prefix in self._prefixes:
            if key.startswith(prefix):
                return prefix
        return None

    def _owners(self, keys: Iterable[str]) -> set[str]:
        return {p for p in map(self._owner, keys) if p is not None}

    def _forget(self, prefixes: Iterable[str]) -> None:
        for prefix in prefixes:
            self._kept.pop(prefix, None)
            self._generation[prefix] += 1

    async def _memory(self, prefix: str) -> dict[str, Entry] | None:
        """The prefix's keys in memory, read from etcd on first use; None: ask etcd."""
        kept = self._kept.get(prefix)
        if kept is not None:
            return kept
        load = self._loading.get(prefix)
        if load is None:
            load = asyncio.ensure_future(self._load(prefix))
            self._loading[prefix] = load
            load.add_done_callback(lambda done: self._loaded(prefix, done))
        await asyncio.shield(load)
        return self._kept.get(prefix)

    async def _load(self, prefix: str) -> None:
        generation = self._generation[prefix]
        entries = await super().get_prefix(prefix)
        if self._generation[prefix] == generation:
            self._kept[prefix] = {e.key: e for e in entries}

    def _loaded(self, prefix: str, load: asyncio.Task[None]) -> None:
        self._loading.pop(prefix, None)
        if not load.cancelled():
            load.exception()  # the readers that awaited it have it; nobody else needs it

    # ---- reads ---------------------------------------------------------------------------

    async def get(self, key: str) -> Entry | None:
        prefix = self._owner(key)
        kept = await self._memory(prefix) if prefix is not None else None
        if kept is None:
            return await super().get(key)
        self.served_from_memory += 1
        return kept.get(key)

    async def get_prefix(self, prefix: str) -> list[Entry]:
        owner = self._owner(prefix)
        kept = await self._memory(owner) if owner is not None else None
        if kept is None:
            return await super().get_prefix(prefix)
        self.served_from_memory += 1
        # etcd's order: by key.
        return sorted((e for k, e in kept.items() if k.startswith(prefix)), key=lambda e: e.key)

    async def count_prefix(self, prefix: str) -> int:
        return len(await self.get_prefix(prefix))

    # ---- writes: etcd first, then memory -------------------------------------------------

    async def _write(
        self, keys: Iterable[str], write: Awaitable[T], landed: Callable[[T], None]
    ) -> T:
        """Await ``write``, then ``landed(its result)``; memory of what it touched goes
        if its outcome is unknown."""
        touched = self._owners(keys)
        for prefix in touched:
            self._writing[prefix] += 1
        try:
            result = await write
            landed(result)
            return result
        except BaseException:
            self._forget(touched)
            raise
        finally:
            for prefix in touched:
                # A load running now may have read etcd before this write landed.
                if prefix in self._loading:
                    self._generation[prefix] += 1
                self._writing[prefix] -= 1
            if self._gone and not any(self._writing.values()):
                self._gone.clear()

    def _apply(self, writes: Sequence[Write], revision: int | None) -> None:
        if revision is None:
            return
        for write in writes:
            prefix = self._owner(write.key)
            if prefix is None or prefix not in self._kept:
                continue
            kept = self._kept[prefix]
            known = kept.get(write.key)
            # Writes of one key that finish out of order: the later revision stays.
            newest = max(known.mod_revision if known else 0, self._gone.get(write.key, 0))
            if newest > revision:
                continue
            if isinstance(write, Put):
                kept[write.key] = Entry(write.key, write.value, revision)
            else:
                kept.pop(write.key, None)
                if self._writing[prefix] > 1:  # another write of the prefix is in flight
                    self._gone[write.key] = revision

    async def put(self, key: str, value: bytes, *, lease: Any = None) -> int:
        if lease is not None:
            # A key with a lease may expire unseen: it is not kept.
            self._forget(self._owners([key]))
            return await self._write([key], super().put(key, value, lease=lease),
                                     lambda _: None)
        return await self._write([key], super().put(key, value),
                                 lambda revision: self._apply([Put(key, value)], revision))

    async def put_all(self, pairs: Sequence[tuple[str, bytes]], *, lease: Any = None) -> None:
        keys = [k for k, _ in pairs]
        if lease is not None:
            self._forget(self._owners(keys))
            await self._write(keys, super().put_all(pairs, lease=lease), lambda _: None)
            return
        await self.commit_at([], [Put(k, v) for k, v in pairs])

    async def delete_at(self, key: str) -> int | None:
        prefix = self._owner(key)
        if prefix is not None and self._surely_absent(prefix, key):
            return None  # nothing to delete, as etcd would answer

        def landed(revision: int | None) -> None:
            if revision is not None:
                self._apply([Delete(key)], revision)
            elif prefix is not None and key in self._kept.get(prefix, {}):
                self._forget([prefix])  # memory held a key etcd did not: memory was wrong

        return await self._write([key], super().delete_at(key), landed)

    async def commit_at(
        self, conditions: Sequence[Condition], writes: Sequence[Write]
    ) -> int | None:
        keys = [c.key for c in conditions] + [w.key for w in writes]
        expected = self._as_kept(conditions)

        def landed(revision: int | None) -> None:
            if revision is not None:
                self._apply(writes, revision)
            elif expected:
                # Memory said every condition held and etcd disagreed: memory was wrong.
                self._forget(self._owners(keys))

        return await self._write(keys, super().commit_at(conditions, writes), landed)

    def _surely_absent(self, prefix: str, key: str) -> bool:
        """Memory has the prefix, not the key, and no write of the prefix may add it."""
        kept = self._kept.get(prefix)
        return kept is not None and key not in kept and not self._writing[prefix]

    def _as_kept(self, conditions: Sequence[Condition]) -> bool:
        """Whether memory, where it holds the keys, has every condition hold."""
        for condition in conditions:
            prefix = self._owner(condition.key)
            kept = self._kept.get(prefix) if prefix is not None else None
            if kept is None:
                continue
            entry = kept.get(condition.key)
            if isinstance(condition, AtRevision):
                if entry is None or entry.mod_revision != condition.mod_revision:
                    return False
            elif entry is not None:
                return False
        return True
