"""Starting, stopping and removing containers across the services.

``docker start`` = a cgroup (cgroupd) + a network sandbox (netd) + volumes
(imaged) + the process (execd). Each step is undone when a later one fails, so
a failed start leaves the container as it was. What a running container holds
(sandbox, cgroup, volume mounts) is released when it stops for good: by the
stop call itself, or by :class:`ExitReleaser` when the process ends on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, Protocol

from dockyard.execd.v1 import execd_pb2
from gateway.containers import start_mounts as mounts_mod
from gateway.containers.networking import network_mode, network_settings, sandbox_spec
from gateway.containers.records import ContainerRecord
from gateway.containers.resources import resources_from_host_config
from gateway.containers.store import ContainerStore
from gateway.containers.validation import validate_mount
from gateway.events import emit_container
from gateway.events.attachments import emit_failed_start, emit_joined, emit_left
from gateway.events.containers import signal_number, start_in_flight
from services.cgroupd.resources import Resources
from services.common.errors import (
    Conflict,
    DockyardError,
    InvalidArgument,
    NotFound,
    NotModified,
    Unavailable,
)
from services.common.timing import timed
from services.execd.models import (
    CREATED,
    EXITED,
    PAUSED,
    RESTARTING,
    RUNNING,
    RuntimeState,
    decode_state,
    runtime_key,
)
from services.netd.models import Sandbox, SandboxSpec

log = logging.getLogger(__name__)

CGROUP_REMOVE_ATTEMPTS = 20
CGROUP_REMOVE_PAUSE = 0.25
LATER_CGROUP_ATTEMPTS = 120
LATER_CGROUP_PAUSE = 1.0
"""A failed start's cgroup is retried for two minutes (execd kills leftovers within one)."""
"""Seconds between tries to remove a cgroup its last processes are still leaving."""


class ProcessBackend(Protocol):
    async def start_container(self, request: execd_pb2.StartContainerRequest) -> RuntimeState: ...
    async def stop_container(
        self, container_id: str, signal: str = "", timeout_seconds: int | None = None,
        for_restart: bool = False,
    ) -> RuntimeState: ...
    async def kill_container(self, container_id: str, signal: str = "") -> None: ...
    async def record_start_error(self, container_id: str, error: str) -> RuntimeState: ...
    async def set_paused(self, container_id: str, paused: bool) -> RuntimeState: ...
    async def delete_container(self, container_id: str) -> None: ...


class SandboxBackend(Protocol):
    async def create_sandbox(self, spec: SandboxSpec) -> Sandbox: ...
    async def get_sandbox(self, container_id: str) -> Sandbox: ...
    async def remove_sandbox(self, container_id: str) -> None: ...
    async def inspect_network(self, ref: str) -> Any: ...


class CgroupState(Protocol):
    @property
    def cgroups_path(self) -> str: ...


class CgroupBackend(Protocol):
    async def create_cgroup(
        self, container_id: str, resources: Resources | None = None, *, name: str = "",
        cgroup_parent: str = "",
    ) -> Any: ...
    async def remove_cgroup(self, container_id: str) -> None: ...
    async def freeze(self, container_id: str, wait_seconds: float = 10.0) -> str: ...
    async def thaw(self, container_id: str, wait_seconds: float = 10.0) -> str: ...


class SnapshotBackend(Protocol):
    async def remove_snapshot(self, container_id: str) -> None: ...
    async def inspect_image(self, name: str) -> Any: ...


class StateReader(Protocol):
    async def get(self, key: str) -> Any: ...


async def read_state(store: StateReader, container_id: str) -> RuntimeState:
    entry = await store.get(runtime_key(container_id))
    if entry is None or entry.value is None:
        return RuntimeState(container_id=container_id, status=CREATED)
    return decode_state(entry.value)


class ContainerLifecycle:
    def __init__(
        self,
        records: ContainerStore,
        states: StateReader,
        processes: ProcessBackend,
        sandboxes: SandboxBackend,
        cgroups: CgroupBackend,
        images: SnapshotBackend,
        volumes: mounts_mod.VolumeMounter | None = None,
    ) -> None:
        self.records = records
        self.states = states
        self.processes = processes
        self.sandboxes = sandboxes
        self.cgroups = cgroups
        self.images = images
        self.volumes = volumes
        self._locks: dict[str, asyncio.Lock] = {}
        self._background: set[asyncio.Task[None]] = set()

    def lock(self, container_id: str) -> asyncio.Lock:
        return self._locks.setdefault(container_id, asyncio.Lock())

    async def state(self, container_id: str) -> RuntimeState:
        return await read_state(self.states, container_id)

    # ---- start ------------------------------------------------------------------

    async def start(self, ref: str) -> ContainerRecord:
        record = await self.records.get(ref)
        async with self.lock(record.id):
            state = await self.state(record.id)
            if state.status == PAUSED:
                raise Conflict("cannot start a paused container, try unpause instead")
            if state.status in (RUNNING, RESTARTING):
                raise NotModified(f"container {record.id} is already started")
            try:
                # As dockerd's settings check at start, before anything is made (no
                # State.Error, no event): a --mount bind source removed since create.
                for mount in record.host_config.get("Mounts") or ():
                    validate_mount(mount)
                return await self._start_locked(record, reset_restart_count=True)
            except DockyardError:
                if record.host_config.get("AutoRemove"):
                    # As dockerd: a --rm container that could not start is
                    # removed (the CLI waits for that before it reports).
                    with contextlib.suppress(DockyardError):
                        await self.remove(record.id, force=True)
                raise

    async def _resolve_mode(self, record: ContainerRecord, kind: str, mode: str) -> str:
        """``container:<name or id>`` as ``container:<full id>`` of a running container."""
        if not mode.startswith("container:"):
            return mode
        ref = mode.partition(":")[2]
        other = await self.records.get(ref)
        if other.id == record.id:
            raise InvalidArgument(f"cannot join own {kind} namespace")
        state = await self.state(other.id)
        if state.status not in (RUNNING, PAUSED):
            # dockerd's words: getNetworkedContainer, and errNotRunning for pid/ipc.
            if kind == "network":
                raise Conflict(f"cannot join network of a non running container: {ref}")
            raise Conflict(f"container {ref} is not running")
        return f"container:{other.id}"

    async def _namespace_path(self, record: ContainerRecord, kind: str, key: str) -> str:
        mode = str(record.host_config.get(key) or "")
        if not mode.startswith("container:"):
            return ""
        resolved = await self._resolve_mode(record, kind, mode)
        state = await self.state(resolved.partition(":")[2])
        return f"/proc/{state.pid}/ns/{kind}"

    async def _start_locked(
        self, record: ContainerRecord, reset_restart_count: bool
    ) -> ContainerRecord:
        undo: list[Callable[[], Awaitable[None]]] = []
        # How far the start got, for the events of a failure (emit_failed_start).
        sandbox_outcome: Sandbox | BaseException | None = None
        ready: ContainerRecord | None = None
        try:
            mode = await self._resolve_mode(record, "network", network_mode(record))
            if mode.startswith("container:"):
                record = await self._share_hostname(record, mode.partition(":")[2])
            planned = mounts_mod.plan_mounts(record.config, record.host_config)
            # The cgroup, the sandbox and the volumes do not depend on each
            # other: made at once, so a start waits for the slowest, not the sum.
            prepared: tuple[
                Any, Sandbox | BaseException, mounts_mod.ResolvedMounts | BaseException,
                tuple[str, str, str] | BaseException,
            ]
            with timed("gateway.start_prepare"):
                prepared = await asyncio.gather(
                    self.cgroups.create_cgroup(
                        record.id, resources_from_host_config(record.host_config),
                        name=record.name.removeprefix("/"),
                        cgroup_parent=str(record.host_config.get("CgroupParent") or ""),
                    ),
                    self.sandboxes.create_sandbox(sandbox_spec(record, mode)),
                    mounts_mod.resolve_mounts(record.id, planned, self.volumes),
                    self._look_up(record),
                    return_exceptions=True,
                )
            cgroup, sandbox, resolved, looked_up = prepared
            sandbox_outcome = sandbox
            if not isinstance(cgroup, BaseException):
                undo.append(lambda: self._undo_cgroup(record.id))
            if not isinstance(sandbox, BaseException):
                undo.append(lambda: self._quietly(self.sandboxes.remove_sandbox(record.id)))
            if not isinstance(resolved, BaseException):
                volumes = resolved.volumes
                undo.append(lambda: self._release_volumes(record.id, volumes))
            for outcome in (cgroup, sandbox, resolved, looked_up):
                if isinstance(outcome, BaseException):
                    raise outcome
            assert not isinstance(sandbox, BaseException)
            assert not isinstance(resolved, BaseException)
            assert not isinstance(looked_up, BaseException)
            pid_ns, ipc_ns, uts_ns = looked_up
            request = execd_pb2.StartContainerRequest(
                container_id=record.id,
                name=record.name.removeprefix("/"),
                config_json=json.dumps(dict(record.config)),
                host_config_json=json.dumps(dict(record.host_config)),
                rootfs=record.rootfs,
                mounts_json=json.dumps(resolved.for_spec),
                netns_path=sandbox.netns_path,
                network_mode=mode,
                hosts_path=sandbox.hosts_path,
                hostname_path=sandbox.hostname_path,
                resolv_conf_path=sandbox.resolv_conf_path,
                cgroups_path=str(cgroup.cgroups_path),
                pid_namespace_path=pid_ns,
                ipc_namespace_path=ipc_ns,
                uts_namespace_path=uts_ns,
                log_path=record.log_path,
                reset_restart_count=reset_restart_count,
            )
            settings = network_settings(record, sandbox)

            def started(r: ContainerRecord) -> ContainerRecord:
                return replace(
                    r, has_been_started=True, network_settings=settings,
                    hosts_path=sandbox.hosts_path, hostname_path=sandbox.hostname_path,
                    resolv_conf_path=sandbox.resolv_conf_path,
                    mounts=tuple(resolved.for_inspect),
                )

            # Recorded before the process starts: an exit seen by the releaser
            # finds the settings to clear.
            updated = ready = await self.records.update(record.id, started)
            with start_in_flight(record.id):
                await self.processes.start_container(request)
                emit_joined(updated)
                emit_container(updated, "start")
            return updated
        except BaseException as error:
            for step in reversed(undo):
                await step()
            if isinstance(error, DockyardError) and not isinstance(error, NotModified):
                await self._record_start_error(record.id, error)
                # A network gone since create is found before dockerd makes a sandbox.
                had_sandbox = sandbox_outcome is not None and not isinstance(
                    sandbox_outcome, NotFound)
                if ready is not None:
                    emit_failed_start(ready, joined=True, had_sandbox=True)
                else:
                    emit_failed_start(await self._with_network_ids(record) if had_sandbox
                                      else record, joined=False, had_sandbox=had_sandbox)
            raise

    async def _with_network_ids(self, record: ContainerRecord) -> ContainerRecord:
        """A copy naming the ID of each network of the record (the default bridge has
        none before a first start), for the disconnects of a start that failed."""
        networks = dict((record.network_settings or {}).get("Networks") or {})
        for name, settings in networks.items():
            if isinstance(settings, dict) and not settings.get("NetworkID"):
                with contextlib.suppress(DockyardError):
                    found = await self.sandboxes.inspect_network(name)
                    networks[name] = {**settings, "NetworkID": str(found.id)}
        return replace(record, network_settings={**(record.network_settings or {}),
                                                 "Networks": networks})

    async def _record_start_error(self, container_id: str, error: DockyardError) -> None:
        """As dockerd: a failed start leaves State.Error and ExitCode 128 (execd keeps them)."""
        try:
            await self.processes.record_start_error(container_id, error.message)
        except DockyardError as e:
            log.warning("recording the failed start of %s: %s", container_id[:12], e.message)

    async def _share_hostname(self, record: ContainerRecord, other_id: str) -> ContainerRecord:
        """Take the names of the container whose network is joined, as dockerd does at start."""
        other = await self.records.get(other_id)
        names = {key: other.config.get(key) or "" for key in ("Hostname", "Domainname")}
        if all(record.config.get(key) == value for key, value in names.items()):
            return record
        return await self.records.update(
            record.id, lambda r: replace(r, config={**r.config, **names}))

    async def _look_up(self, record: ContainerRecord) -> tuple[str, str, str]:
        """The namespace paths of ``container:`` modes, at once.

        The image is not read again: its config was merged into the record at
        create, as dockerd does (a later change to the tag does not matter).
        """
        pid, ipc, uts = await asyncio.gather(
            self._namespace_path(record, "pid", "PidMode"),
            self._namespace_path(record, "ipc", "IpcMode"),
            self._namespace_path(record, "uts", "UTSMode"),
        )
        return pid, ipc, uts

    async def _quietly(self, call: Awaitable[object], *, unless_down: bool = False) -> None:
        """Run a cleanup step; its failure is logged, not raised.

        ``unless_down``: a service that is down (Unavailable) is raised after
        all, for removals that must not forget what they could not give back.
        """
        try:
            await call
        except (NotFound, NotModified):
            pass
        except Unavailable as e:
            if unless_down:
                raise
            log.warning("cleanup step failed: %s", e.message)
        except DockyardError as e:
            log.warning("cleanup step failed: %s", e.message)

    async def _undo_cgroup(self, container_id: str) -> None:
        """Remove the cgroup of a start that failed; later if it still holds processes.

        A start cut short by an execd crash can leave a ``runc init`` in the
        cgroup until execd, back again, kills it: removal is retried in the
        background rather than leaving the cgroup behind.
        """
        try:
            await self.cgroups.remove_cgroup(container_id)
        except NotFound:
            return
        except (Conflict, Unavailable) as e:
            log.warning("cgroup of %s not removed yet: %s", container_id[:12], e.message)
            task = asyncio.ensure_future(self._remove_cgroup_later(container_id))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        except DockyardError as e:
            log.warning("cleanup step failed: %s", e.message)

    async def _remove_cgroup_later(self, container_id: str) -> None:
        for _ in range(LATER_CGROUP_ATTEMPTS):
            await asyncio.sleep(LATER_CGROUP_PAUSE)
            async with self.lock(container_id):
                try:
                    state = await self.state(container_id)
                    if state.status in (RUNNING, PAUSED, RESTARTING):
                        return  # started again meanwhile: the cgroup is in use
                    await self.cgroups.remove_cgroup(container_id)
                    return
                except NotFound:
                    return
                except DockyardError:
                    continue

    async def _remove_cgroup(self, container_id: str) -> None:
        """Remove a stopped container's cgroup, waiting a little for its last processes.

        A process killed when its parent was gone (a start cut short) may stay
        a zombie in the cgroup until it is reaped: removal is refused meanwhile.
        """
        for attempt in range(CGROUP_REMOVE_ATTEMPTS):
            try:
                await self.cgroups.remove_cgroup(container_id)
                return
            except Conflict:
                if attempt == CGROUP_REMOVE_ATTEMPTS - 1:
                    raise
            await asyncio.sleep(CGROUP_REMOVE_PAUSE)

    async def _release_volumes(self, container_id: str, names: list[str]) -> None:
        if self.volumes is None:
            return
        for name in names:
            await self._quietly(self.volumes.unmount_volume(name, container_id))

    # ---- what a running container holds -------------------------------------------

    async def release(
        self, container_id: str, record: ContainerRecord | None = None, *,
        clear_settings: bool = True, unless_down: bool = False,
    ) -> None:
        """Give back the sandbox, cgroup and volume mounts of a container that stopped.

        ``record`` saves a read when the caller has it; ``clear_settings=False``
        skips resetting its NetworkSettings (the record is about to go);
        ``unless_down`` raises Unavailable when netd or cgroupd is down.
        """
        if record is None:
            with contextlib.suppress(NotFound):
                record = await self.records.get(container_id)
        names = [str(m.get("Name")) for m in record.mounts
                 if m.get("Type") == "volume"] if record is not None else []
        with timed("gateway.release"):
            await asyncio.gather(
                self._quietly(self.sandboxes.remove_sandbox(container_id),
                              unless_down=unless_down),
                self._quietly(self._remove_cgroup(container_id), unless_down=unless_down),
                self._release_volumes(container_id, names),
            )
        if record is not None:
            emit_left(record)
        if record is not None and clear_settings:
            with contextlib.suppress(NotFound):
                await self.records.update(
                    container_id, lambda r: replace(r, network_settings=network_settings(r, None))
                )

    # ---- stop, kill, restart, pause ------------------------------------------------

    async def stop(self, ref: str, signal: str = "", grace: int | None = None) -> None:
        record = await self.records.get(ref)
        state = await self.state(record.id)
        if state.status not in (RUNNING, PAUSED, RESTARTING):
            raise NotModified(f"container {record.id} is not running")
        if state.status == PAUSED:
            await self.cgroups.thaw(record.id)
            await self.processes.set_paused(record.id, False)
        stop_signal = signal or str(record.config.get("StopSignal") or "")
        emit_container(record, "kill", signal=signal_number(stop_signal, 15))
        await self.processes.stop_container(record.id, signal, grace)
        await self.release(record.id)
        emit_container(record, "stop")

    async def kill(self, ref: str, signal: str = "") -> None:
        record = await self.records.get(ref)
        state = await self.state(record.id)
        if state.status not in (RUNNING, PAUSED):
            raise Conflict(
                f"cannot kill container: {ref}: container {record.id} is not running"
            )
        await self.processes.kill_container(record.id, signal)
        emit_container(record, "kill", signal=signal_number(signal))

    async def restart(self, ref: str, signal: str = "", grace: int | None = None) -> None:
        record = await self.records.get(ref)
        async with self.lock(record.id):
            state = await self.state(record.id)
            if state.status == PAUSED:
                await self.cgroups.thaw(record.id)
                await self.processes.set_paused(record.id, False)
            if state.status in (RUNNING, PAUSED, RESTARTING):
                with contextlib.suppress(NotModified):
                    await self.processes.stop_container(record.id, signal, grace)
            await self.release(record.id)
            await self._start_locked(await self.records.get(record.id), reset_restart_count=True)
        emit_container(record, "restart")

    async def pause(self, ref: str) -> None:
        record = await self.records.get(ref)
        state = await self.state(record.id)
        if state.status == PAUSED:
            raise Conflict(f"Container {record.id} is already paused")
        if state.status != RUNNING:
            raise Conflict(f"Container {record.id} is not running")
        await self.cgroups.freeze(record.id)
        await self.processes.set_paused(record.id, True)
        emit_container(record, "pause")

    async def unpause(self, ref: str) -> None:
        record = await self.records.get(ref)
        state = await self.state(record.id)
        if state.status != PAUSED:
            raise Conflict(f"Container {record.id} is not paused")
        await self.cgroups.thaw(record.id)
        await self.processes.set_paused(record.id, False)
        emit_container(record, "unpause")

    # ---- removal ----------------------------------------------------------------------

    async def remove(self, ref: str, force: bool = False, volumes: bool = False) -> None:
        record = await self.records.get(ref)
        state = await self.state(record.id)
        if state.status in (RUNNING, PAUSED, RESTARTING):
            if not force:
                raise Conflict(
                    f"cannot remove container \"{record.name}\": container is {state.status}: "
                    "stop the container before removing or force remove"
                )
            if state.status == PAUSED:
                await self._quietly(self.cgroups.thaw(record.id))
                await self._quietly(self.processes.set_paused(record.id, False))
            with contextlib.suppress(NotModified, Conflict):
                await self.processes.stop_container(record.id, "SIGKILL", 0)
        # execd first: it is the one that may refuse. What is left does not
        # depend on each other once the process is gone. A service that is
        # down fails the removal (503) rather than leave its part behind a
        # record that is gone: a retry finishes it.
        with timed("gateway.remove"):
            await self.processes.delete_container(record.id)
            await self._give_back(record)
        await self._forget(record, remove_anonymous=volumes)

    async def remove_exited(self, record: ContainerRecord) -> None:
        """Remove a ``--rm`` container whose exit the caller saw under its lock.

        Nothing can refuse any more (such a container has no restart policy
        and its process is gone), so execd forgets it while the sandbox,
        cgroup and snapshot are given back, not before: one step less on the
        way of every ``docker run --rm``. A service that is down raises
        Unavailable and a retry finishes what is left, as for :meth:`remove`.
        """
        with timed("gateway.remove"):
            await self._give_back(record, self.processes.delete_container(record.id))
        await self._forget(record, remove_anonymous=True)

    async def _give_back(self, record: ContainerRecord, *also: Awaitable[None]) -> None:
        """Release what the stopped container held and its snapshot, at once."""
        outcomes = await asyncio.gather(
            *also,
            self.release(record.id, record, clear_settings=False, unless_down=True),
            self._quietly(self.images.remove_snapshot(record.id), unless_down=True),
            return_exceptions=True,
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def _forget(self, record: ContainerRecord, remove_anonymous: bool) -> None:
        await self._forget_volumes(record, remove_anonymous=remove_anonymous)
        with contextlib.suppress(NotFound):
            await self.records.delete(record.id)
        self._locks.pop(record.id, None)
        emit_container(record, "destroy")

    async def _forget_volumes(self, record: ContainerRecord, remove_anonymous: bool) -> None:
        """Drop the container's volume references; ``docker rm -v`` also removes anonymous ones."""
        if self.volumes is None:
            return
        for mount in record.mounts:
            if mount.get("Type") != "volume" or not mount.get("Name"):
                continue
            name = str(mount["Name"])
            await self._quietly(self.volumes.release_volume(name, record.id))
            anonymous = mount_is_anonymous(record, str(mount.get("Destination", "")))
            if remove_anonymous and anonymous:
                await self._quietly(self.volumes.remove_volume(name))


def mount_is_anonymous(record: ContainerRecord, destination: str) -> bool:
    """Whether the volume at ``destination`` was anonymous (no name given by the user)."""
    planned = mounts_mod.plan_mounts(record.config, record.host_config)
    return any(m.type == "volume" and not m.source and m.destination == destination
               for m in planned)


def exited_for_good(state: RuntimeState) -> bool:
    return state.status in (EXITED, CREATED)
