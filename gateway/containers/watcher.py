"""Following containers' process states through etcd.

execd writes ``runtime/<id>``; the gateway watches the prefix. That one watch
serves ``POST /containers/{id}/wait`` and releases what a container held once it
has stopped for good (and removes ``--rm`` containers), including exits that
happened while the gateway was down (:meth:`RuntimeWatcher.catch_up`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

from gateway.containers.lifecycle import ContainerLifecycle
from gateway.containers.records import CONTAINERS, ContainerRecord
from gateway.events.containers import emit_for, report_exit
from gateway.store_mirror import announce_change
from services.cgroupd.records import PREFIX as CGROUPS
from services.common.errors import DockyardError, NotFound, Unavailable
from services.execd.models import (
    CREATED,
    EXITED,
    RESTARTING,
    RUNNING,
    RUNTIME_PREFIX,
    RuntimeState,
    decode_state,
)
from services.netd.sandbox_records import SANDBOXES

log = logging.getLogger(__name__)
RETRY_SECONDS = 1.0
RELEASE_ATTEMPTS = 120
"""Seconds (one try each) a release waits for a service that is down."""
CLOSE_SECONDS = 0.5
CATCH_UP_SECONDS = 30.0
"""How long :meth:`RuntimeWatcher.catch_up` waits for the releases it started."""


class WatchableStore(Protocol):
    def watch_prefix(
        self, prefix: str, *, start_revision: int | None = None
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[Any]]: ...
    async def get_prefix(self, prefix: str) -> list[Any]: ...


class RuntimeWatcher:
    def __init__(self, store: WatchableStore, lifecycle: ContainerLifecycle) -> None:
        self._store = store
        self._lifecycle = lifecycle
        self._state_listeners: dict[str, set[asyncio.Queue[RuntimeState]]] = {}
        self._removal_listeners: dict[str, set[asyncio.Event]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[None]] = set()
        self._restarting: set[str] = set()
        self.ready = asyncio.Event()

    def start(self) -> None:
        self._tasks = [
            asyncio.ensure_future(self._follow(RUNTIME_PREFIX, self._on_runtime)),
            asyncio.ensure_future(self._follow(CONTAINERS, self._on_record)),
        ]

    async def close(self) -> None:
        tasks = [*self._tasks, *self._background]
        for task in tasks:
            task.cancel()
        if tasks:
            # Bounded: cancelling an etcd watch may wait on the server, and a
            # gateway that stops (or fails to bind) must not linger for it.
            await asyncio.wait(tasks, timeout=CLOSE_SECONDS)

    async def _follow(self, prefix: str, handle: Any) -> None:
        resumed = False
        while True:
            try:
                async with self._store.watch_prefix(prefix) as events:
                    if prefix == RUNTIME_PREFIX:
                        self.ready.set()
                        if resumed:
                            # Exits while the watch was down (etcd restarting) went
                            # unseen, and releases tried meanwhile failed with etcd:
                            # settled now as at the gateway's start.
                            self._spawn(self._catch_up_again())
                    async for event in events:
                        handle(event)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("watch of %s ended: %s", prefix, e)
            resumed = True
            await asyncio.sleep(RETRY_SECONDS)

    async def _catch_up_again(self) -> None:
        try:
            await self.catch_up()
        except DockyardError as e:
            log.warning("settling after the watch came back failed: %s", e.message)
        except Exception:
            log.exception("settling after the watch came back failed")

    # ---- events ------------------------------------------------------------------------

    def _on_runtime(self, event: Any) -> None:
        # What listeners (docker wait, attach) tell clients next is read back fresh.
        announce_change()
        if event.value is None:
            self._restarting.discard(str(event.key).rpartition("/")[2])  # removed
            return
        try:
            state = decode_state(event.value)
        except DockyardError:
            return
        for queue in self._state_listeners.get(state.container_id, ()):
            queue.put_nowait(state)
        self._report_policy_restart(state)
        # CREATED is written after a start that failed half-way (execd discards
        # it when it comes back): what that start took is given back too.
        if state.status in (EXITED, CREATED):
            exited = state if state.status == EXITED else None
            self._spawn(self._after_exit(state.container_id, exited))

    def _report_policy_restart(self, state: RuntimeState) -> None:
        """A restart policy at work, as dockerd reports it: ``die``, then ``start`` (execd
        restarts the process itself; the gateway sees RESTARTING, then RUNNING)."""
        records = self._lifecycle.records
        if state.status == RESTARTING:
            self._restarting.add(state.container_id)
            self._spawn(report_exit(records, state))
        elif state.container_id in self._restarting:
            self._restarting.discard(state.container_id)
            if state.status == RUNNING and state.restart_count > 0:
                self._spawn(emit_for(records, state.container_id, "start"))

    def _on_record(self, event: Any) -> None:
        if event.value is not None:
            return
        container_id = str(event.key).rpartition("/")[2]
        for flag in self._removal_listeners.get(container_id, ()):
            flag.set()

    def _spawn(self, coroutine: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _after_exit(self, container_id: str, exited: RuntimeState | None = None) -> None:
        lifecycle = self._lifecycle
        # die goes out before what follows (disconnect, destroy of a --rm one);
        # its read of the record runs while the release reads its own.
        reported = (asyncio.ensure_future(report_exit(lifecycle.records, exited))
                    if exited is not None else None)
        # A service that is down (restarting, or the cluster still coming up)
        # is waited for: what the container held must not be forgotten.
        for _ in range(RELEASE_ATTEMPTS):
            try:
                await self._release_stopped(container_id, reported)
                return
            except Unavailable as e:
                log.info("releasing %s waits for a service: %s", container_id[:12], e.message)
            await asyncio.sleep(RETRY_SECONDS)
        log.warning("gave up releasing %s: a service stayed unavailable", container_id[:12])

    async def _release_stopped(
        self, container_id: str, reported: asyncio.Future[None] | None = None
    ) -> None:
        """Give back what a stopped container held, or remove a --rm one; Unavailable raised.

        ``reported``: the exit's report, finished before anything is given back.
        """
        lifecycle = self._lifecycle
        async with lifecycle.lock(container_id):
            # Both read at once: this is on the way of every docker run --rm.
            state, record = await asyncio.gather(lifecycle.state(container_id),
                                                 self._record_or_none(container_id))
            if reported is not None:
                await reported
            if state.status not in (EXITED, CREATED):
                return  # started again meanwhile
            auto_remove = record is not None and record.host_config.get("AutoRemove")
            if not auto_remove:
                # A --rm container's removal below gives everything back at once.
                try:
                    await lifecycle.release(container_id, record, unless_down=True)
                except Unavailable:
                    raise
                except DockyardError as e:
                    log.warning("releasing %s failed: %s", container_id[:12], e.message)
                return
            assert record is not None
            with contextlib.suppress(NotFound):
                try:
                    # Exited, read under the lock: nothing to re-read or refuse.
                    await lifecycle.remove_exited(record)
                except Unavailable:
                    raise
                except DockyardError as e:
                    log.warning("auto-remove of %s failed: %s", container_id[:12], e.message)

    async def _record_or_none(self, container_id: str) -> ContainerRecord | None:
        try:
            return await self._lifecycle.records.get(container_id)
        except NotFound:
            return None

    async def catch_up(self) -> None:
        """Settle what happened while the gateway was not watching.

        Run once the watch is established, so nothing falls between the two:
        containers that stopped meanwhile give back their sandbox and cgroup
        (also those of a start cut short by a gateway killed half-way, which
        its record may not mention yet), ``--rm`` ones are removed, and records
        of a create cut short (no root filesystem, and no create of this
        gateway's still making them) are removed. Run again whenever the watch
        comes back after etcd was away. Returns once those are done (or after
        :data:`CATCH_UP_SECONDS`), so a container the start-up pass starts next
        does not race the release of what its last run held.
        """
        await self.ready.wait()
        lifecycle = self._lifecycle
        # Records last: every container that holds something by then has its
        # record in the list (a catch-up may run while containers are made).
        states = {s.container_id: s for s in await self._runtime_states()}
        holders = set()
        for prefix in (SANDBOXES, CGROUPS):
            holders |= {str(e.key).rpartition("/")[2] for e in await self._store.get_prefix(prefix)}
        records = await lifecycle.records.list()
        known = {r.id for r in records}
        settling: list[asyncio.Task[None]] = []
        for record in records:
            state = states.get(record.id)
            if not record.rootfs and record.id not in lifecycle.records.in_making:
                settling.append(self._spawn(self._forget_half_made(record.id)))
            elif (state is None or state.status in (EXITED, CREATED)) and (
                record.id in holders
                or (record.has_been_started and record.host_config.get("AutoRemove"))
            ):
                settling.append(self._spawn(self._after_exit(record.id)))
        # Only what execd ran for a container the gateway has since forgotten:
        # other platforms make sandboxes and cgroups through the gRPC services
        # directly, and those are not the gateway's to release.
        for orphan in (holders - known) & set(states):
            settling.append(self._spawn(lifecycle.release(orphan)))
        if settling:
            # Bounded: a release waits for a service that is down (up to
            # RELEASE_ATTEMPTS s) and goes on in the background after this.
            await asyncio.wait(settling, timeout=CATCH_UP_SECONDS)

    async def _runtime_states(self) -> list[RuntimeState]:
        found = []
        for entry in await self._store.get_prefix(RUNTIME_PREFIX):
            with contextlib.suppress(DockyardError):
                found.append(decode_state(entry.value))
        return found

    async def _forget_half_made(self, container_id: str) -> None:
        lifecycle = self._lifecycle
        async with lifecycle.lock(container_id):
            # Read again: the list it was found in may be older than its create's end.
            if container_id in lifecycle.records.in_making:
                return
            with contextlib.suppress(NotFound):
                if (await lifecycle.records.get(container_id)).rootfs:
                    return
        log.warning("removing container %s left half-created", container_id[:12])
        try:
            await self._lifecycle.remove(container_id, force=True)
        except NotFound:
            pass
        except DockyardError as e:
            log.warning("removing half-created %s failed: %s", container_id[:12], e.message)

    # ---- waiting ---------------------------------------------------------------------

    def listen(self, container_id: str) -> asyncio.Queue[RuntimeState]:
        queue: asyncio.Queue[RuntimeState] = asyncio.Queue()
        self._state_listeners.setdefault(container_id, set()).add(queue)
        return queue

    def unlisten(self, container_id: str, queue: asyncio.Queue[RuntimeState]) -> None:
        listeners = self._state_listeners.get(container_id)
        if listeners is not None:
            listeners.discard(queue)
            if not listeners:
                del self._state_listeners[container_id]

    def listen_removal(self, container_id: str) -> asyncio.Event:
        flag = asyncio.Event()
        self._removal_listeners.setdefault(container_id, set()).add(flag)
        return flag

    def unlisten_removal(self, container_id: str, flag: asyncio.Event) -> None:
        listeners = self._removal_listeners.get(container_id)
        if listeners is not None:
            listeners.discard(flag)
            if not listeners:
                del self._removal_listeners[container_id]
