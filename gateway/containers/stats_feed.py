"""Where a container's stats messages come from: cgroupd's samples plus netd's counters.

dockerd's three modes: a stream ticking every second (``stream=true``), one
message whose ``precpu_stats`` is a read one second older (``stream=false``),
and one message at once (``one-shot=true``). A container that is not running
gets zero messages, and a stream goes on (with zeros) until the container is
removed, as dockerd's stats collector does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, Protocol

from gateway.containers.lifecycle import StateReader, read_state
from gateway.containers.records import ContainerRecord
from gateway.containers.stats_views import stats_json
from services.cgroupd.stats import StatsSample
from services.common.errors import NotFound
from services.execd.models import PAUSED, RUNNING
from services.netd.models import InterfaceStats

TICK_SECONDS = 1.0
"""dockerd's stats collection interval."""


class SampleSource(Protocol):
    """cgroupd's statistics read."""

    async def get_stats(
        self, container_id: str, *, one_shot: bool = False
    ) -> tuple[StatsSample, StatsSample | None]: ...


class NetworkCounters(Protocol):
    """netd's per-interface counters of a container's sandbox."""

    async def sandbox_stats(self, container_id: str) -> dict[str, InterfaceStats]: ...


class RecordFinder(Protocol):
    async def get(self, ref: str) -> ContainerRecord: ...


class StatsFeed:
    def __init__(
        self, records: RecordFinder, states: StateReader, cgroups: SampleSource,
        networks: NetworkCounters,
    ) -> None:
        self._records = records
        self._states = states
        self._cgroups = cgroups
        self._networks = networks

    async def _running(self, container_id: str) -> bool:
        """Running or paused: dockerd's IsRunning (restarting is not)."""
        state = await read_state(self._states, container_id)
        return state.status in (RUNNING, PAUSED)

    async def _sample(
        self, container_id: str, one_shot: bool
    ) -> tuple[StatsSample, StatsSample | None] | None:
        """cgroupd's read, or None once the container has no cgroup (stopped meanwhile)."""
        if not await self._running(container_id):
            return None
        try:
            return await self._cgroups.get_stats(container_id, one_shot=one_shot)
        except NotFound:
            return None

    async def _interfaces(self, container_id: str) -> dict[str, InterfaceStats] | None:
        try:
            return await self._networks.sandbox_stats(container_id)
        except NotFound:
            return None  # no sandbox (stopped meanwhile)

    async def _read(
        self, container_id: str, one_shot: bool
    ) -> tuple[tuple[StatsSample, StatsSample | None] | None, dict[str, InterfaceStats] | None]:
        """cgroupd's and netd's numbers; read together when there is no 1 s wait."""
        if one_shot:
            read, interfaces = await asyncio.gather(
                self._sample(container_id, one_shot), self._interfaces(container_id))
        else:  # the counters go with the later of the two reads
            read = await self._sample(container_id, one_shot)
            interfaces = await self._interfaces(container_id) if read else None
        return read, interfaces if read else None

    async def once(self, record: ContainerRecord, *, one_shot: bool) -> dict[str, Any]:
        """``stream=false``: with a read one second older unless ``one_shot``."""
        read, interfaces = await self._read(record.id, one_shot)
        if read is None:
            return stats_json(container_id=record.id, name=record.name, sample=None)
        sample, previous = read
        return stats_json(container_id=record.id, name=record.name, sample=sample,
                          previous=previous, networks=interfaces)

    async def stream(
        self, record: ContainerRecord, interval: float = TICK_SECONDS
    ) -> AsyncIterator[dict[str, Any]]:
        """A message per ``interval`` until the container is removed (or the caller stops)."""
        previous: StatsSample | None = None
        due = time.monotonic()
        while True:
            read, interfaces = await self._read(record.id, one_shot=True)
            sample = read[0] if read else None
            yield stats_json(container_id=record.id, name=record.name, sample=sample,
                             previous=previous, networks=interfaces)
            previous = sample
            due += interval
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            try:
                record = await self._records.get(record.id)  # renamed meanwhile, or gone
            except NotFound:
                return
