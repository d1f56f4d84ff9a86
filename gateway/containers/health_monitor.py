"""Running containers' health checks: one probe loop per running container that has one.

Why the gateway and not execd: a probe is an exec session (execd already runs
those for any client), and its verdict is API state (``State.Health``, the
``health_status`` events, ``ps`` filters) the gateway shows; the settings live
in the container record the gateway owns. The gateway follows ``runtime/``
already, so it knows when a run begins and ends. The verdict is kept in etcd
(``health/<id>``, with the run's StartedAt), so a restarted gateway carries on
with the streak and log of the run under way instead of starting over; while
the gateway is down, probes pause (the container itself is untouched).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Any, Protocol

from gateway.containers.health_rules import (
    HEALTH_PREFIX,
    MAX_OUTPUT_BYTES,
    HealthSettings,
    HealthState,
    ProbeResult,
    after_probe,
    for_new_run,
    health_key,
    timed_out,
)
from gateway.containers.records import ContainerRecord
from gateway.containers.store import ContainerStore
from gateway.containers.times import parse_rfc3339, rfc3339_nano
from gateway.events import emit_container
from gateway.events.containers import exec_action
from services.common.errors import DockyardError
from services.execd.client import ContainersClient
from services.execd.models import RUNNING, RUNTIME_PREFIX, RuntimeState, decode_state, runtime_key

log = logging.getLogger(__name__)
RETRY_SECONDS = 1.0
EXIT_CODE_WAIT_SECONDS = 2.0
KILLED_PROBE_WAIT_SECONDS = 5.0
"""How long a killed probe's output may take to end: a child it left behind may hold it open."""


class HealthStore(Protocol):
    def watch_prefix(
        self, prefix: str, *, start_revision: int | None = None
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[Any]]: ...
    async def get(self, key: str) -> Any: ...
    async def get_prefix(self, prefix: str) -> list[Any]: ...
    async def put(self, key: str, value: bytes, *, lease: Any = None) -> None: ...
    async def delete(self, key: str) -> bool: ...


async def read_health(store: Any, container_id: str) -> HealthState | None:
    entry = await store.get(health_key(container_id))
    if entry is None:
        return None
    try:
        return HealthState.decode(entry.value)
    except DockyardError:
        return None


class HealthMonitor:
    def __init__(
        self, store: HealthStore, records: ContainerStore, processes: ContainersClient
    ) -> None:
        self._store = store
        self._records = records
        self._processes = processes
        self._probing: dict[str, tuple[str, asyncio.Task[None]]] = {}
        self._follower: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._follower = asyncio.ensure_future(self._follow())

    async def close(self) -> None:
        tasks = [t for _, t in self._probing.values()]
        if self._follower is not None:
            tasks.append(self._follower)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=0.5)

    async def _follow(self) -> None:
        while True:
            try:
                async with self._store.watch_prefix(RUNTIME_PREFIX) as events:
                    await self._catch_up()
                    async for event in events:
                        if event.value is None:
                            await self._forget(str(event.key).rpartition("/")[2])
                        else:
                            await self._on_state(decode_state(event.value))
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("health monitor's watch ended: %s", e)
            await asyncio.sleep(RETRY_SECONDS)

    async def _catch_up(self) -> None:
        """Runs that began while nobody watched (before a restart); verdicts of
        containers removed meanwhile are dropped."""
        known = set()
        for entry in await self._store.get_prefix(RUNTIME_PREFIX):
            state = decode_state(entry.value)
            known.add(state.container_id)
            await self._on_state(state)
        for entry in await self._store.get_prefix(HEALTH_PREFIX):
            container_id = str(entry.key).rpartition("/")[2]
            if container_id not in known:
                await self._store.delete(health_key(container_id))

    async def _forget(self, container_id: str) -> None:
        self._stop(container_id)
        await self._store.delete(health_key(container_id))

    def _stop(self, container_id: str) -> None:
        probing = self._probing.pop(container_id, None)
        if probing is not None:
            probing[1].cancel()

    async def _on_state(self, state: RuntimeState) -> None:
        container_id = state.container_id
        if not state.running:
            self._stop(container_id)
            return
        current = self._probing.get(container_id)
        if current is not None and current[0] == state.started_at:
            return
        self._stop(container_id)
        try:
            record = await self._records.get(container_id)
        except DockyardError:
            return
        settings = HealthSettings.from_config(dict(record.config))
        if settings is None:
            return
        health = for_new_run(await read_health(self._store, container_id), state.started_at)
        await self._store.put(health_key(container_id), health.encode())
        task = asyncio.ensure_future(self._probe_loop(record, settings, state.started_at))
        self._probing[container_id] = (state.started_at, task)

    async def _probe_loop(
        self, record: ContainerRecord, settings: HealthSettings, started_at: str
    ) -> None:
        started = parse_rfc3339(started_at) or time.time()
        while True:
            in_start_period = time.time() - started < settings.start_period
            await asyncio.sleep(settings.start_interval if in_start_period else settings.interval)
            try:
                await self._check_once(record, settings, started_at, started)
            except asyncio.CancelledError:
                raise
            except DockyardError as e:  # execd away, container gone: try at the next interval
                log.info("health probe of %s failed to run: %s", record.id[:12], e.message)

    async def _check_once(
        self, record: ContainerRecord, settings: HealthSettings, started_at: str, started: float
    ) -> None:
        entry = await self._store.get(runtime_key(record.id))
        if entry is None or decode_state(entry.value).status != RUNNING:
            return  # paused (or on its way out): dockerd does not probe either
        result = await self._probe(record, settings)
        in_start_period = time.time() - started < settings.start_period
        previous = await read_health(self._store, record.id)
        state = for_new_run(previous, started_at)
        updated = after_probe(state, result, settings.retries, in_start_period)
        if self._probing.get(record.id, ("",))[0] != started_at:
            return  # the run ended while the probe ran
        await self._store.put(health_key(record.id), updated.encode())
        if updated.status != state.status:
            emit_container(record, f"health_status: {updated.status}")

    async def _probe(self, record: ContainerRecord, settings: HealthSettings) -> ProbeResult:
        config = record.config
        exec_config = {
            "Cmd": list(settings.command), "AttachStdout": True, "AttachStderr": True,
            "Tty": False, "User": config.get("User") or "",
            "WorkingDir": config.get("WorkingDir") or "",
        }
        start = rfc3339_nano()
        exec_id = await self._processes.create_exec(record.id, exec_config)
        # dockerd reports its probes as execs: exec_create, exec_start, exec_die.
        emit_container(record, exec_action("exec_create", exec_config), execID=exec_id)
        try:
            emit_container(record, exec_action("exec_start", exec_config), execID=exec_id)
            result, exit_code = await self._run_probe(exec_id, settings, start)
            if exit_code >= 0:
                emit_container(record, "exec_die", execID=exec_id, exitCode=str(exit_code))
            return result
        finally:
            # As dockerd: probes are not left among the container's exec sessions.
            with contextlib.suppress(DockyardError):
                await self._processes.remove_exec(exec_id)

    async def _run_probe(
        self, exec_id: str, settings: HealthSettings, start: str
    ) -> tuple[ProbeResult, int]:
        """The probe's result and its process's exit code (-1 when unknown)."""
        stream = await self._processes.start_exec(exec_id, False)
        output = bytearray()

        async def collect() -> None:
            async for _, data in stream.output():
                if len(output) < MAX_OUTPUT_BYTES:
                    output.extend(data[: MAX_OUTPUT_BYTES - len(output)])

        collector = asyncio.ensure_future(collect())
        try:
            done, _ = await asyncio.wait({collector}, timeout=settings.timeout)
            if not done:
                # As dockerd: a probe past its timeout is killed, and waited
                # for, so that dying probes do not pile up in the container.
                ended = rfc3339_nano()
                await self._kill_probe(exec_id, collector)
                return timed_out(start, ended, settings.timeout), await self._exit_code(exec_id)
            collector.result()
        finally:
            if not collector.done():
                collector.cancel()
                stream.cancel()
        exit_code = await self._exit_code(exec_id)
        return (ProbeResult(start, rfc3339_nano(), exit_code,
                            output.decode("utf-8", errors="replace")), exit_code)

    async def _kill_probe(self, exec_id: str, collector: asyncio.Future[None]) -> None:
        with contextlib.suppress(DockyardError):
            await self._processes.kill_exec(exec_id, "SIGKILL")
        # The stream ends once runc has reaped the process; execd then records the exit.
        await asyncio.wait({collector}, timeout=KILLED_PROBE_WAIT_SECONDS)
        if collector.done() and not collector.cancelled():
            collector.exception()  # a stream cut by execd: the verdict is the timeout anyway

    async def _exit_code(self, exec_id: str) -> int:
        """The probe's exit code; execd records it as the session's output ends."""
        deadline = time.monotonic() + EXIT_CODE_WAIT_SECONDS
        while True:
            info = await self._processes.inspect_exec(exec_id)
            if info.exit_code is not None:
                return info.exit_code
            if time.monotonic() > deadline:
                return -1
            await asyncio.sleep(0.02)
