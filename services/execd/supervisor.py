"""Container processes: start under conmon, stop, kill, exits, restart policies.

One :class:`Supervisor` per execd. It is the only writer of ``runtime/<id>``.
Exits arrive as conmon's exit files (inotify on the exits directory), so a
container that ends while execd is down is noticed when execd comes back: the
file is still there, with the real exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from services.common.errors import (
    Conflict,
    Internal,
    InvalidArgument,
    NotFound,
    NotModified,
    Unavailable,
)
from services.common.etcd_store import Store, unavailable_from
from services.common.timing import timed
from services.execd import conmon, layout, leftovers, restart
from services.execd.attach import AttachConnection
from services.execd.inotify import DirectoryWatch
from services.execd.logrotate import LogRotator, RotationPolicy
from services.execd.models import (
    CREATED,
    EXITED,
    PAUSED,
    RESTARTING,
    RUNNING,
    RUNTIME_PREFIX,
    ZERO_TIME,
    RuntimeState,
    decode_state,
    encode_state,
    runtime_key,
)
from services.execd.runc import Runc, RuncError
from services.execd.signals import parse_signal
from services.execd.startspec import StartSpec

log = logging.getLogger(__name__)

SAVE_RETRY_SECONDS = 0.1
SAVE_RETRY_MAX_SECONDS = 2.0
"""Back-off of an exit's record while etcd is out of reach (0.1 s doubling to 2 s)."""

T = TypeVar("T")

DEFAULT_STOP_TIMEOUT = 10
KILL_WAIT_SECONDS = 2.0
DISCARD_TIMEOUT = 5.0
"""How long recover() waits for the conmon of a discarded start to go."""
SWEEP_AGAIN_AFTER = (3.0, 15.0, 60.0)
"""When recover() looks again for runs of starts cut short (seconds, one after another)."""
LOST_EXIT_CODE = 255
START_FAILED_CODE = 128
"""dockerd's exit code of a container whose start failed for any other reason."""
"""Docker's exit code for a container whose process vanished without a trace."""


def now_rfc3339() -> str:
    """RFC 3339 with nanoseconds in UTC, as Docker prints State times."""
    ns = time.time_ns()
    stamp = datetime.fromtimestamp(ns // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{ns % 1_000_000_000:09d}Z"


def start_error(message: str, command: str = "") -> tuple[int, Exception]:
    """Docker's exit code and error kind for a process that could not start.

    As dockerd's translateContainerdStartErr: 127 only when the message is
    about the ``command`` (a missing bind source is no missing command, and
    gets 128 like any other failure); ENOTDIR gets dockerd's hint.
    """
    text = f"failed to create task for container: OCI runtime create failed: {message}: unknown"
    lowered = message.lower()
    about_command = not command or command.lower() in lowered
    if about_command and (
            "executable file not found" in lowered or "no such file or directory" in lowered):
        return 127, InvalidArgument(text)
    if "permission denied" in lowered:
        return 126, InvalidArgument(text)
    if "not a directory" in lowered:
        return 128, InvalidArgument(
            f"{text}: Are you trying to mount a directory onto a file (or vice-versa)? "
            "Check if the specified host path exists and is the expected type")
    return START_FAILED_CODE, Internal(text)


def _command_of(spec: StartSpec) -> str:
    """The first word the container runs (inspect's Path)."""
    config = spec.config()
    words = [*(config.get("Entrypoint") or ()), *(config.get("Cmd") or ())]
    return str(words[0]) if words else ""


@dataclass
class _Run:
    """One run of a container's process."""

    pid: int
    started: float = field(default_factory=time.monotonic)
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    exit_on_next: bool = False
    """Set by a stop: the exit it causes is not followed by a policy restart (kept in
    the state's ``next_exit_not_restarted`` too, for an execd that comes back)."""


class Supervisor:
    def __init__(
        self,
        store: Store,
        paths: layout.RuntimeLayout,
        runc: Runc,
        conmon_path: str,
        build_spec: Callable[[StartSpec], dict[str, Any]],
        log_size_max: int = -1,
    ) -> None:
        self._store = store
        self._paths = paths
        self._runc = runc
        self._conmon = conmon_path
        self._build_spec = build_spec
        self._log_size_max = log_size_max
        self._states: dict[str, RuntimeState] = {}
        self._runs: dict[str, _Run] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._pending_attach: dict[str, list[asyncio.Future[AttachConnection]]] = {}
        self._restart_tasks: dict[str, asyncio.Task[None]] = {}
        self._restart_delay: dict[str, float] = {}
        self._watch: DirectoryWatch | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._rotator = LogRotator()

    # ---- start-up and shutdown -------------------------------------------------

    async def recover(self) -> None:
        """Rebuild the view from etcd and the kernel, then handle exits missed while down.

        execd may have died anywhere, also between ``runc create`` and recording
        the run: such a start was reported failed to its caller (the gateway
        then undid the sandbox and cgroup), so its process is discarded rather
        than adopted. Running containers whose conmon lives are adopted as they
        are; exits conmon recorded meanwhile are handled with their real codes.

        A restart of execd alone and a start of all of Dockyard look the same
        here, on purpose: both resume what was under way (exits judged by the
        restart policy, back-offs of ``restarting`` containers). Starting the
        ``always``/``unless-stopped`` containers that had stopped is a start of
        Dockyard only; the gateway does it, knowing the launch (see
        gateway/containers/daemon_start.py), since their sandbox and cgroup
        were given back and only its start path makes them again.
        """
        self._paths.ensure()
        self._watch = DirectoryWatch(self._paths.exits_dir, self._exit_file_written)
        for entry in await self._store.get_prefix(RUNTIME_PREFIX):
            state = decode_state(entry.value)
            self._states[state.container_id] = state
        await self._sweep()
        for container_id, state in list(self._states.items()):
            exit_file = self._paths.exits_dir / container_id
            if state.status == RESTARTING:
                exit_file.unlink(missing_ok=True)
                self._schedule_restart(container_id, restart.BASE_DELAY)
            elif state.status not in (RUNNING, PAUSED):
                exit_file.unlink(missing_ok=True)  # recorded before execd went
            elif self._monitor_pid(container_id) is not None or exit_file.exists():
                # Adopted; an exit already written (or written from now on,
                # seen by the watch) is handled like any other. A stop or kill
                # that ends the run, under way when execd went, is not undone
                # by a policy restart.
                self._runs[container_id] = _Run(
                    pid=state.pid, started=_monotonic_of(state.started_at),
                    exit_on_next=state.next_exit_not_restarted,
                )
                self._watch_log(container_id)
                if exit_file.exists():
                    self._spawn(self._handle_exit(container_id))
            else:
                await self._record_exit(container_id, LOST_EXIT_CODE, oom=False)
        self._forget_stray_exit_files()
        self._spawn(self._sweep_later())

    async def _sweep(self) -> None:
        """Discard runs no record accounts for (see :meth:`recover`), each under its lock.

        Also run a little later again: a ``runc create`` its dead execd had
        started may still be running during recover() and finish afterwards.
        """
        try:
            known = set(await self._runc.containers())
        except RuncError as e:
            log.warning("cannot list runc's containers: %s", e.message)
            known = set()
        for container_id in known:
            async with self._lock(container_id):
                await self._discard_if_unaccounted(container_id)
        bundles = [b.name for b in self._paths.bundles_dir.iterdir()
                   if b.name not in known and len(b.name) == 64]
        for container_id in bundles:
            async with self._lock(container_id):
                await self._kill_leftover_init(container_id)

    async def _sweep_later(self) -> None:
        for delay in SWEEP_AGAIN_AFTER:
            await asyncio.sleep(delay)
            await self._sweep()

    def _accounted(self, container_id: str) -> bool:
        state = self._states.get(container_id)
        if state is None or state.status not in (RUNNING, PAUSED):
            return False
        return self._monitor_pid(container_id) is not None or (
            self._paths.exits_dir / container_id).exists()

    async def _discard_if_unaccounted(self, container_id: str) -> None:
        """A runc container of a start execd did not see through: kill and forget it."""
        if self._accounted(container_id):
            return  # adopted, or its exit is handled
        log.warning("discarding container %s left by an unfinished start", container_id[:12])
        await self._discard(container_id)
        await self._tell_gateway(container_id)

    async def _kill_leftover_init(self, container_id: str) -> None:
        """Kill what a start cut short before runc wrote its state left in the cgroup."""
        state = self._states.get(container_id)
        if state is not None and state.status in (RUNNING, PAUSED):
            return
        bundle = self._paths.bundle(container_id)
        pids = await asyncio.to_thread(leftovers.pids_in, leftovers.cgroups_path_of(bundle))
        if not pids:
            return
        log.warning("killing %d process(es) a cut-short start of %s left",
                    len(pids), container_id[:12])
        leftovers.kill(pids)
        for pid in pids:
            await _wait_gone(pid, DISCARD_TIMEOUT)
        if self._runc.knows(container_id):  # its runc create finished after all
            await self._discard(container_id)
        await self._tell_gateway(container_id)

    async def _tell_gateway(self, container_id: str) -> None:
        """Rewrite a stopped container's record: the gateway, which follows these
        records, then gives back what the failed start held."""
        state = self._states.get(container_id)
        if state is None and not self._paths.bundle(container_id).exists():
            return  # removed meanwhile (its files went with it): no record to bring back
        if state is None or state.status in (CREATED, EXITED):
            await self._save(state or RuntimeState(container_id=container_id))

    async def _discard(self, container_id: str) -> None:
        """Kill the container, wait for its conmon to go, and drop the exit file it wrote."""
        monitor = self._monitor_pid(container_id)
        with contextlib.suppress(Internal):
            await self._runc.delete(container_id)
        if monitor is not None:
            await _wait_gone(monitor, DISCARD_TIMEOUT)
        (self._paths.exits_dir / container_id).unlink(missing_ok=True)

    def _forget_stray_exit_files(self) -> None:
        """Exit files of containers that no longer exist (removed while an exit was pending)."""
        for path in self._paths.exits_dir.iterdir():
            if path.name not in self._states:
                path.unlink(missing_ok=True)

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.close()
        self._rotator.close()
        for task in [*self._restart_tasks.values(), *self._tasks]:
            task.cancel()

    def _spawn(self, coroutine: Any) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _monitor_pid(self, container_id: str) -> int | None:
        """The pid of the container's conmon while it runs (checked by its command line)."""
        pidfile = self._paths.bundle(container_id) / "conmon.pid"
        try:
            pid = int(pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        if b"conmon" in cmdline and container_id.encode() in cmdline:
            return pid
        return None

    # ---- state --------------------------------------------------------------------

    def _lock(self, container_id: str) -> asyncio.Lock:
        return self._locks.setdefault(container_id, asyncio.Lock())

    def state(self, container_id: str) -> RuntimeState:
        state = self._states.get(container_id)
        if state is None:
            raise NotFound(f"No such container: {container_id}")
        return state

    def states(self) -> list[RuntimeState]:
        return list(self._states.values())

    async def _save(self, state: RuntimeState) -> RuntimeState:
        self._states[state.container_id] = state
        await self._store.put(runtime_key(state.container_id), encode_state(state))
        return state

    async def _save_until_stored(self, state: RuntimeState) -> None:
        """:meth:`_save`, tried again while etcd is out of reach.

        An exit must reach its record: the process is gone, and nobody else
        would tell (while etcd restarts, execd itself keeps running, so no
        recover() finds the exit file later).
        """
        delay = SAVE_RETRY_SECONDS
        while True:
            try:
                await self._save(state)
                return
            except Exception as error:
                if not isinstance(error, Unavailable) and unavailable_from(error) is None:
                    raise
                log.warning("recording %s waits for etcd: %s", state.container_id[:12], error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, SAVE_RETRY_MAX_SECONDS)

    def is_running(self, container_id: str) -> bool:
        state = self._states.get(container_id)
        return state is not None and state.status in (RUNNING, PAUSED)

    # ---- start ----------------------------------------------------------------------

    async def start(self, spec: StartSpec, reset_restart_count: bool = True) -> RuntimeState:
        return await _uninterrupted(self._start(spec, reset_restart_count))

    async def _start(self, spec: StartSpec, reset_restart_count: bool) -> RuntimeState:
        container_id = spec.container_id
        layout_check(container_id)
        async with self._lock(container_id):
            current = self._states.get(container_id)
            if current is not None and current.status in (RUNNING, PAUSED):
                raise NotModified(f"container {container_id} is already started")
            self._cancel_restart(container_id)
            if reset_restart_count:
                self._restart_delay.pop(container_id, None)
            base = current or RuntimeState(container_id=container_id)
            if reset_restart_count:
                base = replace(base, restart_count=0, stopped_by_user=False)
            return await self._start_locked(spec, base)

    async def _start_locked(self, spec: StartSpec, base: RuntimeState) -> RuntimeState:
        container_id = spec.container_id
        bundle = self._paths.bundle(container_id)
        if self._runc.knows(container_id):
            # A run that ended without a runc delete, or one a killed execd left:
            # its conmon must be gone before its exit file can be told apart.
            await self._discard(container_id)
        (self._paths.exits_dir / container_id).unlink(missing_ok=True)
        try:
            with timed("execd.spec"):
                document = self._build_spec(spec)
            rotation = self._rotation_policy(spec)
        except Exception:
            self._fail_pending_attach(container_id)
            raise
        with timed("execd.bundle"):
            await asyncio.to_thread(_write_bundle, bundle, spec, document)
        log_path = Path(spec.log_path or self._paths.default_log_path(container_id))
        log_path.parent.mkdir(parents=True, exist_ok=True)
        config = spec.config()
        options = conmon.MonitorOptions(
            container_id=container_id,
            name=spec.name or container_id,
            bundle=bundle,
            runtime_path=self._runc.path,
            runc_root=self._runc.root,
            exits_dir=self._paths.exits_dir,
            log_path=log_path,
            terminal=bool(config.get("Tty")),
            stdin=bool(config.get("OpenStdin")),
            # conmon closes stdin when any attach connection ends, detaches
            # included; Docker closes it only at the stdin EOF of a StdinOnce
            # container without a terminal, so a TTY's stays open to re-attach.
            leave_stdin_open=not bool(config.get("StdinOnce")) or bool(config.get("Tty")),
            log_size_max=rotation.conmon_size_max,
        )
        try:
            with timed("execd.create"):
                pid = await conmon.create_under_monitor(self._conmon, options)
        except conmon.RuntimeCreateError as e:
            self._fail_pending_attach(container_id)
            code, error = start_error(e.message, _command_of(spec))
            await self._save(replace(
                base, status=EXITED if base.started_at != ZERO_TIME else CREATED,
                pid=0, exit_code=code, error=str(error), finished_at=now_rfc3339(),
            ))
            raise error from None
        except Exception:
            self._fail_pending_attach(container_id)
            raise
        await self._connect_pending_attach(container_id, bundle)
        run = _Run(pid=pid)
        self._runs[container_id] = run
        try:
            with timed("execd.runc_start"):
                await self._runc.start(container_id)
        except RuncError as e:
            await self._runc.delete(container_id)
            code, error = start_error(e.message, _command_of(spec))
            self._runs.pop(container_id, None)
            await self._save(replace(base, status=EXITED, pid=0, exit_code=code, error=str(error),
                                     finished_at=now_rfc3339()))
            raise error from None
        self._rotator.watch(container_id, log_path, rotation, bundle)
        try:
            with timed("execd.save"):
                return await self._save(replace(
                    base, status=RUNNING, pid=pid, exit_code=0, error="", oom_killed=False,
                    started_at=now_rfc3339(), finished_at=base.finished_at,
                    next_exit_not_restarted=False,
                ))
        except Exception:
            # A start whose record etcd did not take (it is away) did not happen:
            # the gateway, told it failed, gives back what the container holds,
            # so its process goes too, and memory says again what etcd holds.
            self._states[container_id] = base
            self._runs.pop(container_id, None)
            self._rotator.forget(container_id)
            await self._discard(container_id)
            raise

    def _rotation_policy(self, spec: StartSpec) -> RotationPolicy:
        """The container's max-size/max-file (its LogConfig holds the daemon's log-opts)."""
        log_config = spec.host_config().get("LogConfig")
        options = log_config.get("Config") if isinstance(log_config, dict) else None
        return RotationPolicy.from_options(
            options if isinstance(options, dict) else {}, self._log_size_max)

    def _watch_log(self, container_id: str) -> None:
        """Rotate the log of an adopted run again (execd restarted)."""
        spec = self.saved_spec(container_id)
        if spec is None:
            return
        with contextlib.suppress(InvalidArgument):
            self._rotator.watch(container_id, self.log_path(container_id),
                                self._rotation_policy(spec), self._paths.bundle(container_id))

    # ---- attach ----------------------------------------------------------------------

    async def attach(self, container_id: str) -> asyncio.Future[AttachConnection]:
        """A connection to the container's stdio: now if it runs, else at its next start."""
        future: asyncio.Future[AttachConnection] = asyncio.get_running_loop().create_future()
        async with self._lock(container_id):
            if self.is_running(container_id):
                try:
                    future.set_result(await AttachConnection.open(self._paths.bundle(container_id)))
                except Exception as e:
                    future.set_exception(e)
            else:
                self._pending_attach.setdefault(container_id, []).append(future)
        return future

    def cancel_attach(self, container_id: str, future: asyncio.Future[AttachConnection]) -> None:
        waiting = self._pending_attach.get(container_id, [])
        if future in waiting:
            waiting.remove(future)
        if future.done() and not future.cancelled() and future.exception() is None:
            future.result().close()
        else:
            future.cancel()

    async def _connect_pending_attach(self, container_id: str, bundle: Path) -> None:
        for future in self._pending_attach.pop(container_id, []):
            if future.done():
                continue
            try:
                future.set_result(await AttachConnection.open(bundle))
            except Exception as e:
                future.set_exception(e)

    def _fail_pending_attach(self, container_id: str) -> None:
        for future in self._pending_attach.pop(container_id, []):
            if not future.done():
                future.set_exception(Conflict("the container did not start"))

    def bundle(self, container_id: str) -> Path:
        return self._paths.bundle(container_id)

    @property
    def runc(self) -> Runc:
        return self._runc

    def log_path(self, container_id: str) -> Path:
        spec = self.saved_spec(container_id)
        if spec is not None and spec.log_path:
            return Path(spec.log_path)
        return self._paths.default_log_path(container_id)

    def stdin_closes_on_any_leave(self, container_id: str) -> bool:
        """Whether conmon closes the container's stdin when any attach connection ends
        (a StdinOnce container without a terminal; see ``leave_stdin_open``)."""
        spec = self.saved_spec(container_id)
        config = spec.config() if spec else {}
        return bool(config.get("OpenStdin") and config.get("StdinOnce") and not config.get("Tty"))

    def has_tty(self, container_id: str) -> bool:
        spec = self.saved_spec(container_id)
        return bool(spec and spec.config().get("Tty"))

    # ---- signals -------------------------------------------------------------------

    async def kill(self, container_id: str, signal_name: str) -> None:
        number = parse_signal(signal_name, int(signal.SIGKILL))
        async with self._lock(container_id):
            state = self.state(container_id)
            if state.status not in (RUNNING, PAUSED):
                raise Conflict(
                    f"Cannot kill container: {container_id}: "
                    f"Container {container_id} is not running"
                )
            # As dockerd (daemon/kill.go): every kill counts as the user's
            # stop for unless-stopped; the exit it causes is not restarted
            # when the signal is SIGKILL or the configured StopSignal (any
            # signal when none is configured). Otherwise, should the process
            # die of it, the restart policy applies.
            run = self._runs.get(container_id)
            ends_run = self._kill_ends_run(container_id, number)
            if run is not None and ends_run:
                run.exit_on_next = True
            # Saved before the signal goes: should execd go before the exit is
            # handled, the one that comes back judges it the same way.
            await self._save(replace(
                state, stopped_by_user=True,
                next_exit_not_restarted=state.next_exit_not_restarted or ends_run))
            await self._runc.kill(container_id, number)
        # As dockerd: a SIGKILL returns once the exit is recorded (outside the
        # lock, which the exit handler takes), so `docker kill` then `inspect`
        # shows the container exited.
        if number == int(signal.SIGKILL) and run is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(run.exited.wait(), KILL_WAIT_SECONDS)

    async def record_start_error(self, container_id: str, message: str) -> RuntimeState:
        """A start the gateway could not take as far as execd (see the proto)."""
        layout_check(container_id)
        async with self._lock(container_id):
            state = self._states.get(container_id) or RuntimeState(container_id=container_id)
            if state.status in (RUNNING, PAUSED, RESTARTING):
                return state
            return await self._save(replace(
                state, error=message, exit_code=state.exit_code or START_FAILED_CODE))

    def _kill_ends_run(self, container_id: str, number: int) -> bool:
        """Whether a kill by ``number`` is a stop (its exit is not restarted), as dockerd."""
        spec = self.saved_spec(container_id)
        configured = str(spec.config().get("StopSignal") or "") if spec else ""
        if number == int(signal.SIGKILL) or not configured:
            return True
        try:
            return parse_signal(configured, int(signal.SIGTERM)) == number
        except InvalidArgument:
            return True

    async def stop(
        self, container_id: str, signal_name: str, grace: int | None, for_restart: bool = False
    ) -> RuntimeState:
        return await _uninterrupted(self._stop(container_id, signal_name, grace, for_restart))

    async def _stop(
        self, container_id: str, signal_name: str, grace: int | None, for_restart: bool
    ) -> RuntimeState:
        # Under the container's lock, so that the decision (restarting or
        # running), the "stay down" mark and the signal cannot interleave with
        # an exit being recorded or a policy restart starting the process.
        async with self._lock(container_id):
            state = self._states.get(container_id)
            if state is None:
                raise NotModified(f"container {container_id} is not running")
            if state.status == RESTARTING:
                self._cancel_restart(container_id)
                return await self._save(
                    replace(state, status=EXITED, stopped_by_user=not for_restart)
                )
            run = self._runs.get(container_id)
            if state.status not in (RUNNING, PAUSED) or run is None:
                raise NotModified(f"container {container_id} is not running")
            spec = self.saved_spec(container_id)
            config = spec.config() if spec else {}
            stop_signal = signal_name or str(config.get("StopSignal") or "SIGTERM")
            if grace is None:
                configured = config.get("StopTimeout")
                grace = int(configured) if isinstance(configured, int) else DEFAULT_STOP_TIMEOUT
            # The exit this stop causes never triggers the restart policy.
            run.exit_on_next = True
            await self._save(replace(
                state, stopped_by_user=state.stopped_by_user or not for_restart,
                next_exit_not_restarted=True))
            with contextlib.suppress(Conflict, NotFound):
                await self._runc.kill(container_id, parse_signal(stop_signal, int(signal.SIGTERM)))
        if grace < 0:
            await run.exited.wait()
        else:
            try:
                await asyncio.wait_for(run.exited.wait(), grace)
            except TimeoutError:
                try:
                    await self._runc.kill(container_id, int(signal.SIGKILL), all_processes=True)
                except (Conflict, NotFound):
                    pass
                except Internal as error:
                    # The stop signal may have ended it meanwhile, its cgroup
                    # released with it (runc then cannot freeze it to kill all):
                    # only a failure to kill a process that lives on counts.
                    try:
                        await asyncio.wait_for(run.exited.wait(), 1.0)
                    except TimeoutError:
                        raise error from None
                await run.exited.wait()
        return self.state(container_id)

    async def set_paused(self, container_id: str, paused: bool) -> RuntimeState:
        state = self.state(container_id)
        if state.status not in (RUNNING, PAUSED):
            raise Conflict(f"Container {container_id} is not running")
        return await self._save(replace(state, status=PAUSED if paused else RUNNING))

    async def update_restart_policy(self, container_id: str, name: str, retries: int) -> None:
        """Keep a new restart policy in the saved start spec, which exits are judged by."""
        policy = {"Name": name or "no", "MaximumRetryCount": retries}
        restart.RestartPolicy.from_host_config(policy)  # InvalidArgument for a bad name
        async with self._lock(container_id):
            spec = self.saved_spec(container_id)
            if spec is None:
                raise NotFound(f"No such container: {container_id}")
            host_config = {**spec.host_config(), "RestartPolicy": policy}
            updated = replace(spec, host_config_json=json.dumps(host_config))
            await asyncio.to_thread(_save_start_spec, self._paths.bundle(container_id), updated)

    # ---- exits and restarts -------------------------------------------------------

    def _exit_file_written(self, name: str) -> None:
        if len(name) == 64:
            self._spawn(self._handle_exit(name))

    async def _handle_exit(self, container_id: str) -> None:
        exit_file = self._paths.exits_dir / container_id
        try:
            code = int(exit_file.read_text().strip() or LOST_EXIT_CODE)
        except (OSError, ValueError):
            return
        async with self._lock(container_id):
            if not exit_file.exists():
                return  # handled already
            state = self._states.get(container_id)
            if state is None or state.status not in (RUNNING, PAUSED):
                # Not a run execd recorded: a removed container, or a start
                # discarded by recover().
                exit_file.unlink(missing_ok=True)
                return
            oom = (self._paths.bundle(container_id) / "oom").exists()
            # runc forgets the container first: its delete also waits out the
            # other processes of the container, so once the exit is recorded
            # the gateway finds the cgroup empty when it gives it back. The
            # exit file stays until the exit is recorded: if etcd or execd
            # goes away in between, the next recover() finds it again.
            delete_after = self._delete_after_record(container_id)
            if not delete_after:
                with timed("execd.exit_runc_delete"):
                    await self._runc.delete(container_id)
            with timed("execd.exit_record"):
                await self._record_exit(container_id, code, oom)
            exit_file.unlink(missing_ok=True)
            if delete_after:
                # Still under the lock: the removal's delete() waits for it,
                # and runs it again if this one failed.
                try:
                    with timed("execd.exit_runc_delete_after_record"):
                        await self._runc.delete(container_id)
                except Internal as e:
                    log.warning("runc delete of %s failed: %s", container_id[:12], e.message)

    def _delete_after_record(self, container_id: str) -> bool:
        """Whether runc's delete of an exited container may follow the exit's record.

        A ``--rm`` container is removed as soon as its exit is recorded: with
        ``runc delete`` after the record, the gateway gives back its sandbox,
        cgroup and snapshot meanwhile, one runc run less before ``docker run
        --rm`` returns. Only with a PID namespace of its own: the kernel kills
        every other process in it before the exit of its init can be seen, so
        the cgroup is empty without runc's help. (If execd goes away before
        the delete, :meth:`delete` or the next recover() finds the stopped
        runc container and deletes it.)
        """
        spec = self.saved_spec(container_id)
        if spec is None:
            return False
        host_config = spec.host_config()
        return bool(host_config.get("AutoRemove")) and \
            str(host_config.get("PidMode") or "private") == "private"

    async def _record_exit(self, container_id: str, code: int, oom: bool) -> None:
        state = self._states.get(container_id) or RuntimeState(container_id=container_id)
        run = self._runs.pop(container_id, None)
        self._rotator.forget(container_id)
        # As dockerd closes the log before the exit shows: a rotation (and its
        # compression) under way ends first, so a stopped container's files stay still.
        await self._rotator.settle(container_id)
        seconds_up = time.monotonic() - run.started if run else 0.0
        exited = replace(state, status=EXITED, pid=0, exit_code=code, oom_killed=oom,
                         finished_at=now_rfc3339(), next_exit_not_restarted=False)
        spec = self.saved_spec(container_id)
        policy = restart.RestartPolicy()
        if spec is not None:
            with contextlib.suppress(InvalidArgument):
                configured = spec.host_config().get("RestartPolicy")
                policy = restart.RestartPolicy.from_host_config(configured)
        # Without a run (its process vanished while execd was away) the record says.
        stopping = run.exit_on_next if run is not None else state.next_exit_not_restarted
        if not stopping and policy.should_restart(code, state.restart_count, state.stopped_by_user):
            delay = restart.next_delay(self._restart_delay.get(container_id, 0.0), seconds_up)
            self._restart_delay[container_id] = delay
            await self._save_until_stored(replace(exited, status=RESTARTING))
            self._schedule_restart(container_id, delay)
        else:
            await self._save_until_stored(exited)
        if run is not None:
            run.exited.set()

    def _schedule_restart(self, container_id: str, delay: float) -> None:
        self._cancel_restart(container_id)
        task = asyncio.ensure_future(self._restart_later(container_id, delay))
        self._restart_tasks[container_id] = task

    def _cancel_restart(self, container_id: str) -> None:
        task = self._restart_tasks.pop(container_id, None)
        if task is not None and task is not asyncio.current_task():
            task.cancel()

    async def _restart_later(self, container_id: str, delay: float) -> None:
        await asyncio.sleep(delay)
        spec = self.saved_spec(container_id)
        async with self._lock(container_id):
            self._restart_tasks.pop(container_id, None)
            state = self._states.get(container_id)
            if spec is None or state is None or state.status != RESTARTING:
                return
            base = replace(state, restart_count=state.restart_count + 1)
            try:
                await self._start_locked(spec, base)
            except Exception as e:
                log.warning("restart of %s failed: %s", container_id[:12], e)

    def saved_spec(self, container_id: str) -> StartSpec | None:
        try:
            return StartSpec.loads((self._paths.bundle(container_id) / "start.json").read_text())
        except (OSError, ValueError):
            return None

    # ---- removal ----------------------------------------------------------------------

    async def delete(self, container_id: str) -> None:
        await _uninterrupted(self._delete(container_id))

    async def _delete(self, container_id: str) -> None:
        async with self._lock(container_id):
            state = self._states.get(container_id)
            if state is not None and state.status in (RUNNING, PAUSED):
                raise Conflict(
                    f"cannot remove container {container_id}: container is running: "
                    "stop the container before removing or force remove"
                )
            self._cancel_restart(container_id)
            if self._runc.knows(container_id):
                await self._runc.delete(container_id)
            self._fail_pending_attach(container_id)
            self._states.pop(container_id, None)
            self._restart_delay.pop(container_id, None)
            self._rotator.forget(container_id)
            await self._rotator.settle(container_id)  # its log is not written to meanwhile
            # The record and the files go at once: both are on the way of docker rm.
            await asyncio.gather(self._store.delete(runtime_key(container_id)),
                                 asyncio.to_thread(_remove_files, self._paths, container_id))
        self._locks.pop(container_id, None)

    async def wait_exit(self, container_id: str) -> None:
        run = self._runs.get(container_id)
        if run is not None:
            await run.exited.wait()


async def _uninterrupted(operation: Coroutine[Any, Any, T]) -> T:
    """Run ``operation`` to its end even when the caller is cancelled.

    gRPC cancels a handler whose client went away (a gateway killed mid-request);
    a start, stop or removal cut in half would leave a process nobody records.
    """
    task = asyncio.ensure_future(operation)
    task.add_done_callback(_retrieve_outcome)
    return await asyncio.shield(task)


def _retrieve_outcome(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("operation finished after its caller left: %s", task.exception())


async def _wait_gone(pid: int, seconds: float) -> None:
    """Wait until process ``pid`` has exited (its pidfd turns readable), at most ``seconds``."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return
    loop = asyncio.get_running_loop()
    gone = asyncio.Event()
    loop.add_reader(fd, gone.set)
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(gone.wait(), seconds)
    finally:
        loop.remove_reader(fd)
        os.close(fd)


def _monotonic_of(rfc3339: str) -> float:
    """The monotonic clock reading of a recorded wall time (for the restart back-off)."""
    try:
        started = datetime.strptime(rfc3339[:26].rstrip("Z"), "%Y-%m-%dT%H:%M:%S.%f")
    except ValueError:
        return time.monotonic()
    seconds_ago = time.time() - started.replace(tzinfo=UTC).timestamp()
    return time.monotonic() - max(seconds_ago, 0.0)


def layout_check(container_id: str) -> None:
    if len(container_id) != 64 or any(c not in "0123456789abcdef" for c in container_id):
        raise InvalidArgument(f"invalid container ID {container_id!r}: expected 64 hex digits")


def _write_bundle(bundle: Path, spec: StartSpec, document: dict[str, Any]) -> None:
    bundle.mkdir(parents=True, exist_ok=True, mode=0o700)
    for stale in ("oom", "pidfile", "attach", "ctl", "winsz"):
        (bundle / stale).unlink(missing_ok=True)
    temp = bundle / "config.json.tmp"
    temp.write_text(json.dumps(document))
    temp.replace(bundle / "config.json")
    (bundle / "start.json").write_text(spec.dumps())


def _save_start_spec(bundle: Path, spec: StartSpec) -> None:
    """Replace start.json in one rename, so a reader never sees half of it."""
    temp = bundle / "start.json.tmp"
    temp.write_text(spec.dumps())
    temp.replace(bundle / "start.json")


def _remove_files(paths: layout.RuntimeLayout, container_id: str) -> None:
    shutil.rmtree(paths.bundle(container_id), ignore_errors=True)
    shutil.rmtree(paths.container_dir(container_id), ignore_errors=True)
    (paths.exits_dir / container_id).unlink(missing_ok=True)
