"""cgroupd's domain core: container cgroups on the kernel, their records in etcd.

The servicer is a thin gRPC shell over :class:`CgroupManager`. cgroupd is the
only writer of ``cgroups/<id>`` keys, so the records are loaded once at start
and kept in memory; every change is written to etcd before it is answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from services.cgroupd import freezer, placement
from services.cgroupd.driver import Driver
from services.cgroupd.guard import RemovalGuard
from services.cgroupd.records import PREFIX, CgroupRecord, key
from services.cgroupd.resources import (
    Capabilities,
    Resources,
    check,
    merge_update,
    resolve_devices,
    with_create_defaults,
)
from services.cgroupd.stats import StatsSample, system_cpu_usage
from services.common.errors import Conflict, DockyardError, NotFound, Unavailable
from services.common.etcd_store import Entry

log = logging.getLogger(__name__)

STATS_INTERVAL = 1.0
"""Seconds between two samples of a stream, and between the two of a non-one-shot read."""


class RecordStore(Protocol):
    """The part of :class:`services.common.etcd_store.Store` cgroupd uses."""

    async def get_prefix(self, prefix: str) -> list[Entry]: ...
    async def create(self, key: str, value: bytes) -> bool: ...
    async def put_if(self, key: str, value: bytes, mod_revision: int) -> bool: ...
    async def get(self, key: str) -> Entry | None: ...
    async def delete(self, key: str) -> bool: ...


@dataclass(frozen=True)
class CgroupState:
    """A container's cgroup as it is now: its record plus what the kernel says."""

    record: CgroupRecord
    cgroups_path: str
    """linux.cgroupsPath for runc (cgroupfs driver)."""
    freeze_state: str
    pids: tuple[int, ...]
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class OOMEvent:
    """The kernel OOM-killed ``new_kills`` processes of a container; ``oom_kills`` is the total."""

    container_id: str
    name: str
    oom_kills: int
    new_kills: int
    time_ns: int


def online_cpus() -> int:
    return int(os.sysconf("SC_NPROCESSORS_ONLN"))


def read_system_cpu() -> int:
    return system_cpu_usage(Path("/proc/stat").read_text())


class CgroupManager:
    """Creates, limits, samples, freezes and removes container cgroups."""

    def __init__(self, driver: Driver, store: RecordStore, default_parent: str) -> None:
        self.driver = driver
        self._store = store
        self.default_parent = placement.normalize_parent(default_parent)
        self._records: dict[str, tuple[CgroupRecord, int]] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._oom_subscribers: set[asyncio.Queue[OOMEvent]] = set()
        self.capabilities: Capabilities = driver.capabilities()
        self._guard: RemovalGuard | None = None
        self._restoring: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # ---- start-up -----------------------------------------------------------------

    async def load(self) -> None:
        """Read every record from etcd (cgroupd is their only writer)."""
        for entry in await self._store.get_prefix(PREFIX):
            try:
                record = CgroupRecord.from_json(entry.value)
            except (ValueError, TypeError, KeyError) as exc:
                log.warning("skipping unreadable cgroup record %s: %s", entry.key, exc)
                continue
            self._records[record.container_id] = (record, entry.mod_revision)

    def guard_removals(self) -> None:
        """Put back the cgroups runc removes behind cgroupd's back (see guard.py)."""
        self._guard = RemovalGuard(self._removed)
        for parent in {r.parent for r in self.records()}:
            self._guard.watch(parent, self.driver.directories(parent))

    def _removed(self, parent: str, name: str) -> None:
        found = self._records.get(name)
        if found is None or found[0].parent != parent or name in self._restoring:
            return
        self._restoring.add(name)
        task = asyncio.ensure_future(self._restore(name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _restore(self, container_id: str) -> None:
        async with self._lock(container_id):
            self._restoring.discard(container_id)
            found = self._records.get(container_id)
            if found is None:
                return  # cgroupd removed it itself
            record = found[0]
            try:
                self.driver.create(record.path)
                self.driver.apply(record.path, record.resources)
            except DockyardError as exc:
                log.warning("could not restore cgroup %s: %s", record.path, exc.message)
                return
            log.debug("restored cgroup removed by the runtime", extra={"cgroup": record.path})

    def cleanup_orphans(self) -> list[str]:
        """Remove cgroups under the default parent that no record claims and no process uses.

        Only direct children of Dockyard's own parent are candidates; one that
        still holds processes is left alone and reported in the log.
        """
        recorded = {r.container_id for r, _ in self._records.values()
                    if r.parent == self.default_parent}
        removed = []
        for name in placement.orphans(self.driver.children(self.default_parent), recorded):
            path = f"{self.default_parent}/{name}"
            try:
                self.driver.remove(path)
            except DockyardError as exc:
                log.warning("left orphan cgroup %s in place: %s", path, exc.message)
                continue
            removed.append(name)
        if removed:
            log.info("removed orphan cgroups", extra={"cgroups": removed})
        return removed

    # ---- records ------------------------------------------------------------------

    def _lock(self, container_id: str) -> asyncio.Lock:
        return self._locks.setdefault(container_id, asyncio.Lock())

    def record(self, container_id: str) -> CgroupRecord:
        found = self._records.get(container_id)
        if found is None:
            raise NotFound(f"no cgroup for container {container_id}")
        return found[0]

    def records(self) -> list[CgroupRecord]:
        return [r for r, _ in self._records.values()]

    async def _save(self, record: CgroupRecord) -> None:
        _, revision = self._records[record.container_id]
        k = key(record.container_id)
        if not await self._store.put_if(k, record.to_json(), revision):
            raise Unavailable(f"cgroup record {record.container_id} changed behind cgroupd")
        entry = await self._store.get(k)
        self._records[record.container_id] = (record, entry.mod_revision if entry else revision)

    def _state(self, record: CgroupRecord, warnings: tuple[str, ...] = ()) -> CgroupState:
        return CgroupState(
            record=record,
            cgroups_path=placement.runc_cgroups_path(record.path),
            freeze_state=self.driver.freeze_state(record.path),
            pids=tuple(sorted(self.driver.pids(record.path))),
            warnings=warnings,
        )

    # ---- lifecycle ------------------------------------------------------------------

    async def create(
        self, container_id: str, name: str, parent: str, resources: Resources
    ) -> CgroupState:
        placement.check_container_id(container_id)
        parent = placement.normalize_parent(parent) if parent else self.default_parent
        path = placement.cgroup_path(parent, container_id)
        async with self._lock(container_id):
            if container_id in self._records:
                raise Conflict(f"a cgroup for container {container_id} already exists")
            checked = check(with_create_defaults(resources, self.capabilities), self.capabilities)
            applied = resolve_devices(checked.resources)
            record = CgroupRecord(container_id=container_id, name=name.lstrip("/"),
                                  parent=parent, path=path, resources=applied)
            # Kernel first, record second: a crash in between leaves a cgroup with
            # no record, which the next start removes as an orphan.
            try:
                self.driver.create(path)
                self.driver.apply(path, applied)
                if not await self._store.create(key(container_id), record.to_json()):
                    raise Conflict(f"a cgroup for container {container_id} already exists")
            except BaseException:
                with contextlib.suppress(Exception):
                    self.driver.remove(path)
                raise
            entry = await self._store.get(key(container_id))
            self._records[container_id] = (record, entry.mod_revision if entry else 0)
            if self._guard is not None:
                self._guard.watch(parent, self.driver.directories(parent))
            return self._state(record, checked.warnings)

    async def update(self, container_id: str, change: Resources) -> CgroupState:
        async with self._lock(container_id):
            record = self.record(container_id)
            merged = merge_update(record.resources, change)
            checked = check(merged, self.capabilities, update=True)
            applied = resolve_devices(checked.resources)
            try:
                self.driver.apply(record.path, applied)
            except BaseException:
                # The refused limit may follow others already written: put those back,
                # so a refused update changes nothing.
                with contextlib.suppress(Exception):
                    self.driver.apply(record.path, record.resources)
                raise
            updated = replace(record, resources=applied)
            await self._save(updated)
            return self._state(updated, checked.warnings)

    async def get(self, container_id: str) -> CgroupState:
        await self.refresh_oom(container_id)
        return self._state(self.record(container_id))

    async def remove(self, container_id: str) -> None:
        async with self._lock(container_id):
            record = self.record(container_id)
            self.driver.remove(record.path)
            await self._store.delete(key(container_id))
            del self._records[container_id]
        self._locks.pop(container_id, None)

    # ---- freezer --------------------------------------------------------------------

    async def set_frozen(self, container_id: str, frozen: bool, wait_seconds: float) -> str:
        async with self._lock(container_id):
            path = self.record(container_id).path
            return await freezer.change(self.driver, path, frozen, wait_seconds)

    # ---- statistics -------------------------------------------------------------------

    def sample(self, container_id: str) -> StatsSample:
        path = self.record(container_id).path
        return self.driver.sample(path, read_system_cpu(), online_cpus())

    def sample_all(self) -> list[tuple[CgroupRecord, StatsSample]]:
        """One sample of every container, sharing one read of /proc/stat."""
        system, cpus = read_system_cpu(), online_cpus()
        return [(r, self.driver.sample(r.path, system, cpus)) for r in self.records()]

    async def stats(self, container_id: str, *, one_shot: bool) -> tuple[StatsSample,
                                                                      StatsSample | None]:
        """(sample, previous): previous is a read 1 s earlier unless ``one_shot``."""
        first = self.sample(container_id)
        if one_shot:
            return first, None
        await asyncio.sleep(STATS_INTERVAL)
        return self.sample(container_id), first

    async def stream_stats(
        self, container_id: str, interval: float = STATS_INTERVAL
    ) -> AsyncIterator[tuple[StatsSample, StatsSample | None]]:
        """A sample every ``interval`` with the one before it; ends when the cgroup goes."""
        previous: StatsSample | None = None
        while container_id in self._records:
            current = self.sample(container_id)
            yield current, previous
            previous = current
            await asyncio.sleep(interval)

    # ---- OOM ----------------------------------------------------------------------------

    async def refresh_oom(self, container_id: str) -> int:
        """Read the kernel's OOM kill counter; record and publish an increase."""
        record = self.record(container_id)
        count = self.driver.oom_kills(record.path)
        if count <= record.oom_kills:
            return record.oom_kills
        async with self._lock(container_id):
            record = self.record(container_id)
            if count <= record.oom_kills:
                return record.oom_kills
            await self._save(record.with_oom_kills(count))
        event = OOMEvent(container_id, record.name, count, count - record.oom_kills,
                         time_ns=time.time_ns())
        log.info("oom kill", extra={"container": container_id, "oom_kills": count})
        for queue in list(self._oom_subscribers):
            queue.put_nowait(event)
        return count

    async def refresh_all_oom(self) -> None:
        for record in self.records():
            with contextlib.suppress(NotFound):
                await self.refresh_oom(record.container_id)

    @contextlib.contextmanager
    def oom_events(self) -> Iterator[asyncio.Queue[OOMEvent]]:
        """A queue receiving every OOM event published while the block runs."""
        queue: asyncio.Queue[OOMEvent] = asyncio.Queue()
        self._oom_subscribers.add(queue)
        try:
            yield queue
        finally:
            self._oom_subscribers.discard(queue)

