"""The container records in etcd: create, look up, list, update, rename, delete.

A record and its name reservation are written and removed together in one
transaction, so two creates with one name never both succeed and a name never
outlives its container. Updates compare on ``mod_revision`` and retry, so
concurrent writers (start path, rename, restart bookkeeping) never lose each
other's changes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Protocol

from gateway.containers.names import check_name
from gateway.containers.records import (
    CONTAINERS,
    ContainerRecord,
    container_key,
    decode_record,
    encode_record,
    name_key,
)
from services.common.errors import (
    Conflict,
    DockyardError,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from services.common.etcd_store import (
    Absent,
    AtRevision,
    Condition,
    Delete,
    Entry,
    Put,
    Write,
)

UPDATE_ATTEMPTS = 20
"""Compare-and-swap retries before an update gives up (only under heavy contention)."""

_FULL_ID = re.compile(r"^[0-9a-f]{64}$")
_HEX = re.compile(r"^[0-9a-f]+$")


class RecordStore(Protocol):
    """The part of :class:`services.common.etcd_store.Store` the container store uses."""

    async def get(self, key: str) -> Entry | None: ...
    async def get_prefix(self, prefix: str) -> list[Entry]: ...
    async def commit(self, conditions: Sequence[Condition], writes: Sequence[Write]) -> bool: ...


class RecordReads(Protocol):
    """Where plain reads come from: the store, or the gateway's mirror of it."""

    async def get(self, key: str) -> Entry | None: ...
    async def get_prefix(self, prefix: str) -> list[Entry]: ...


def name_conflict(name: str, holder: str) -> Conflict:
    return Conflict(
        f'Conflict. The container name "{name}" is already in use by container "{holder}". '
        "You have to remove (or rename) that container to be able to reuse that name."
    )


def no_such_container(ref: str) -> NotFound:
    return NotFound(f"No such container: {ref}")


class ContainerStore:
    """Container records over the etcd store; every method is safe to call concurrently."""

    def __init__(self, store: RecordStore, reads: RecordReads | None = None) -> None:
        self._store = store
        # Plain reads (get, list) may come from the gateway's mirror of the
        # store (gateway/store_mirror.py); what a write decides on is read from
        # the store itself.
        self._reads: RecordReads = reads if reads is not None else store
        # Decoded records by key, valid while the key's mod_revision is unchanged:
        # `docker ps` of hundreds of containers then decodes only what changed.
        self._decoded: dict[str, tuple[int, ContainerRecord]] = {}
        self.in_making: set[str] = set()
        """IDs of the records a create of this gateway is still making (no root
        filesystem yet): the others without one are left by a create cut short."""

    def _decode(self, entry: Entry) -> ContainerRecord:
        cached = self._decoded.get(entry.key)
        if cached is not None and cached[0] == entry.mod_revision:
            return cached[1]
        record = decode_record(entry.value)
        self._decoded[entry.key] = (entry.mod_revision, record)
        return record

    async def create(self, record: ContainerRecord) -> None:
        """Write a new record and reserve its name; Conflict if the name is taken."""
        check_name(record.name)
        conditions = [Absent(record.key), Absent(name_key(record.name))]
        writes = [
            Put(record.key, encode_record(record)),
            Put(name_key(record.name), record.id.encode()),
        ]
        for _ in range(2):
            if await self._store.commit(conditions, writes):
                return
            holder = await self._store.get(name_key(record.name))
            if holder is not None:
                raise name_conflict(record.name, holder.value.decode())
            if await self._store.get(record.key) is not None:
                raise Conflict(f"container {record.id} already exists")
            # The holder was removed between the transaction and the read: try again.
        raise Unavailable(f"the name {record.name} is changing hands; try again")

    async def get(self, ref: str) -> ContainerRecord:
        """Find a container as dockerd does: full ID, then exact name, then unique ID prefix."""
        return self._decode(await self._find(ref, self._reads))

    async def _find(self, ref: str, source: RecordReads) -> Entry:
        if not ref:
            raise InvalidArgument("No container name or ID supplied")
        if _FULL_ID.match(ref):
            entry = await source.get(container_key(ref))
            if entry is not None:
                return entry
        if "/" not in ref.removeprefix("/"):
            holder = await source.get(name_key(ref))
            if holder is not None:
                entry = await source.get(container_key(holder.value.decode()))
                if entry is not None:
                    return entry
        if _HEX.match(ref):
            matches = await source.get_prefix(CONTAINERS + ref)
            if len(matches) > 1:
                raise InvalidArgument(f"multiple IDs found with provided prefix: {ref}")
            if matches:
                return matches[0]
        raise no_such_container(ref)

    async def list(self) -> list[ContainerRecord]:
        """Every container, in one prefix read."""
        entries = await self._reads.get_prefix(CONTAINERS)
        records = [self._decode(e) for e in entries]
        if len(self._decoded) > len(entries):
            present = {e.key for e in entries}
            self._decoded = {k: v for k, v in self._decoded.items() if k in present}
        return records

    async def update(
        self, container_id: str, change: Callable[[ContainerRecord], ContainerRecord]
    ) -> ContainerRecord:
        """Apply ``change`` to the stored record with compare-and-swap; return the result.

        ``change`` may run several times (once per attempt) and must not change
        the ID or the name (use :meth:`rename`).
        """
        key = container_key(container_id)
        cached = self._decoded.get(key)
        if cached is not None:
            done = await self._update_as_read(key, cached[0], cached[1], change)
            if done is not None:
                return done
        for _ in range(UPDATE_ATTEMPTS):
            entry = await self._store.get(key)
            if entry is None:
                raise no_such_container(container_id)
            current = decode_record(entry.value)
            updated = change(current)
            if (updated.id, updated.name) != (current.id, current.name):
                raise ValueError("update() cannot change a container's ID or name")
            if updated == current:
                return current
            if await self._store.commit(
                [AtRevision(entry.key, entry.mod_revision)],
                [Put(entry.key, encode_record(updated))],
            ):
                self._decoded.pop(key, None)  # its new revision is not known here
                return updated
        raise Unavailable(f"container {container_id} is being changed by others; try again")

    async def _update_as_read(
        self, key: str, revision: int, current: ContainerRecord,
        change: Callable[[ContainerRecord], ContainerRecord],
    ) -> ContainerRecord | None:
        """One try of :meth:`update` on the record as last read, without reading it again.

        The write's condition on that revision tells whether it is still what
        is stored (one etcd round trip less on the way of every start). None
        when it is not, or when the answer may depend on it (``change``
        refused it, or changed nothing): :meth:`update` then reads the record.
        """
        try:
            updated = change(current)
        except DockyardError:
            return None
        if (updated.id, updated.name) != (current.id, current.name):
            raise ValueError("update() cannot change a container's ID or name")
        if updated == current or not await self._store.commit(
            [AtRevision(key, revision)], [Put(key, encode_record(updated))]
        ):
            return None
        self._decoded.pop(key, None)
        return updated

    async def delete(self, container_id: str) -> None:
        """Remove the record and release its name together; NotFound if it is gone."""
        key = container_key(container_id)
        cached = self._decoded.pop(key, None)
        # First on the record as last read: if it is still at that revision,
        # its name is the one to release (one round trip less per removal).
        if cached is not None and await self._store.commit(
            [AtRevision(key, cached[0])], [Delete(key), Delete(name_key(cached[1].name))]
        ):
            return
        for _ in range(UPDATE_ATTEMPTS):
            entry = await self._store.get(key)
            if entry is None:
                raise no_such_container(container_id)
            record = decode_record(entry.value)
            # On the record's revision, so a concurrent rename cannot leave
            # the new name reserved for a container that no longer exists.
            if await self._store.commit(
                [AtRevision(entry.key, entry.mod_revision)],
                [Delete(entry.key), Delete(name_key(record.name))],
            ):
                return
        raise Unavailable(f"container {container_id} is being changed by others; try again")

    async def rename(self, ref: str, new_name: str) -> ContainerRecord:
        """Give a container a new name, releasing the old one in the same transaction."""
        if not ref or not new_name:
            raise InvalidArgument("Neither old nor new names may be empty")
        for _ in range(UPDATE_ATTEMPTS):
            entry = await self._find(ref, self._store)
            record = decode_record(entry.value)
            canonical = new_name if new_name.startswith("/") else "/" + new_name
            if canonical == record.name:
                raise InvalidArgument("Renaming a container with the same name as its current name")
            try:
                canonical = check_name(new_name)
            except InvalidArgument as exc:
                raise InvalidArgument(f"Error when allocating new name: {exc.message}") from None
            renamed = replace(record, name=canonical)
            if await self._store.commit(
                [AtRevision(entry.key, entry.mod_revision), Absent(name_key(canonical))],
                [
                    Put(entry.key, encode_record(renamed)),
                    Delete(name_key(record.name)),
                    Put(name_key(canonical), record.id.encode()),
                ],
            ):
                self._decoded.pop(entry.key, None)  # as last read no more
                return renamed
            holder = await self._store.get(name_key(canonical))
            if holder is not None:
                conflict = name_conflict(canonical, holder.value.decode())
                raise Conflict(f"Error when allocating new name: {conflict.message}")
        raise Unavailable(f"container {ref} is being changed by others; try again")
