"""The running cluster: start every component, wait until it serves, restart what dies,
and stop everything in order.

Everything is started at once: the services retry their etcd connection while
etcd boots, so nothing waits on anything else and start-up takes as long as the
slowest single component.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import shutil
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from prometheus_client import multiprocess

from launcher import etcd_process, health
from launcher.backoff import RestartPolicy
from launcher.child import Child
from launcher.preflight import claim_hosts
from launcher.state import COMPONENTS, ComponentState, LauncherState, save, write_atomic
from services.common.config import DaemonConfig
from services.common.endpoints import service_address
from services.common.errors import DockyardError
from services.common.launch import LAUNCH_ID_ENV, new_launch_id
from services.common.paths import SERVICE_NAMES, ClusterPaths

log = logging.getLogger("launcher")

STOP_ORDER: tuple[str, ...] = tuple(reversed(COMPONENTS))
"""gateway first (no new requests), then the services, etcd last (they flush to it)."""
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
POLL_INTERVAL = 0.025

ReadyCallback = Callable[[str | None], None]
"""Called once: with None when the cluster serves, with the reason when it cannot start."""


class StartupFailed(DockyardError):
    """The cluster did not come up; the message says which part and why."""


class Supervisor:
    """Owns the children of one ``dockyard up``."""

    def __init__(self, config: DaemonConfig, *, relay_to: TextIO | None = None) -> None:
        self.paths = ClusterPaths(Path(config.data_root), Path(config.exec_root))
        self.embedded_etcd = not config.etcd_endpoints
        self.config = config
        self.relay_to = relay_to if relay_to is not None else sys.stderr
        self.children: dict[str, Child] = {}
        self.policies: dict[str, RestartPolicy] = {}
        self.state: LauncherState | None = None
        self.ready = False
        self._stop_requested = asyncio.Event()
        self._stopping = False
        self._failure: str | None = None
        self._wake = asyncio.Event()
        self._watchers: list[asyncio.Task[None]] = []

    # ---- set-up -------------------------------------------------------------------

    def _prepare(self) -> None:
        """Directories, the metrics dir, etcd's ports and the children's configuration."""
        self.paths.exec_root.mkdir(parents=True, exist_ok=True)
        self.paths.services_dir.mkdir(parents=True, exist_ok=True)
        self.paths.logs_dir.mkdir(parents=True, exist_ok=True)
        # prometheus_client's multiprocess files of a previous run would be summed
        # into this one's metrics.
        shutil.rmtree(self.paths.metrics_dir, ignore_errors=True)
        self.paths.metrics_dir.mkdir(parents=True)
        for host in self.config.hosts:
            if host.startswith("unix://"):
                Path(host[len("unix://") :]).parent.mkdir(parents=True, exist_ok=True)

        # One launch ID for every child, also when restarted: see services.common.launch.
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(self.paths.metrics_dir),
               "PYTHONUNBUFFERED": "1", LAUNCH_ID_ENV: new_launch_id()}
        if self.embedded_etcd:
            binary = etcd_process.find_binary() or etcd_process.ETCD_BINARY
            ports = etcd_process.choose_ports(self.paths.data_root)
            self.config = dataclasses.replace(self.config, etcd_endpoints=(ports.client_url,))
            self._add_child(
                "etcd",
                etcd_process.etcd_argv(binary, self.paths.etcd_data, ports),
                etcd_process.etcd_env(env),
            )
        write_atomic(self.paths.runtime_config, self.config.to_json())
        config_arg = ["--config", str(self.paths.runtime_config)]
        for name in SERVICE_NAMES:
            self._add_child(name, [sys.executable, "-m", f"services.{name}", *config_arg], env)
        self._add_child("gateway", [sys.executable, "-m", "gateway", *config_arg], env)

        self.state = LauncherState(
            pid=os.getpid(),
            started=time.time(),
            data_root=str(self.paths.data_root),
            exec_root=str(self.paths.exec_root),
            hosts=list(self.config.hosts),
            etcd_endpoints=list(self.config.etcd_endpoints),
            etcd_embedded=self.embedded_etcd,
            components={
                name: ComponentState(state="starting" if name in self.children else "external")
                for name in COMPONENTS
            },
        )

    def _add_child(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.children[name] = Child(name, argv, env, relay_to=self.relay_to)
        self.policies[name] = RestartPolicy()

    def _save_state(self) -> None:
        if self.state is None:
            return
        for name, child in self.children.items():
            component = self.state.components[name]
            component.pid = child.pid
            component.started = child.started_wall if child.running else None
        with contextlib.suppress(OSError):
            save(self.paths.launcher_state, self.state)

    def _component(self, name: str) -> ComponentState:
        assert self.state is not None
        return self.state.components[name]

    # ---- the main line --------------------------------------------------------------

    async def run(self, on_ready: ReadyCallback) -> int:
        """Run the cluster until SIGTERM/SIGINT; 0 after a clean stop, 1 if it never came up."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.request_stop)
        try:
            self._prepare()
            for child in self.children.values():
                await child.start()
                self._component(child.name).state = "running"
                log.info("started %s", child.name, extra={"pid": child.pid})
            self._save_state()
            self._watchers = [
                asyncio.create_task(self._watch(child)) for child in self.children.values()
            ]
            failure = await self._wait_ready(time.monotonic() + START_TIMEOUT)
        except (OSError, DockyardError) as exc:
            failure = getattr(exc, "message", None) or str(exc)

        if failure is not None:
            log.error("cluster did not come up: %s", failure)
            await self.stop_all()
            on_ready(failure)
            return 1
        self.ready = True
        assert self.state is not None
        self.state.state = "ready"
        self._save_state()
        log.info("cluster ready", extra={"hosts": list(self.config.hosts)})
        on_ready(None)
        await self._stop_requested.wait()
        await self.stop_all()
        return 0

    def request_stop(self) -> None:
        log.info("stop requested")
        self._stop_requested.set()
        self._wake.set()

    def _fail(self, reason: str) -> None:
        if self._failure is None:
            self._failure = reason
        self._wake.set()

    # ---- readiness ----------------------------------------------------------------

    async def _wait_ready(self, deadline: float) -> str | None:
        """None once every component serves; otherwise why start-up failed."""
        probe = health.HealthProbe()
        pending: dict[str, str] = {name: "not started" for name in COMPONENTS}
        checks: dict[str, Callable[[], Awaitable[str]]] = {
            name: self._service_check(probe, name) for name in SERVICE_NAMES
        }
        checks["etcd"] = self._etcd_check
        checks["gateway"] = self._gateway_check
        try:
            while True:
                if self._failure is not None:
                    return self._failure
                if self._stop_requested.is_set():
                    return "interrupted by a stop request"
                names = list(pending)
                results = await asyncio.gather(*(checks[name]() for name in names))
                for name, result in zip(names, results, strict=True):
                    if result == "ok":
                        del pending[name]
                    else:
                        pending[name] = result
                if not pending:
                    return None
                if time.monotonic() > deadline:
                    return self._timeout_reason(pending)
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), POLL_INTERVAL)
        finally:
            await probe.close()

    def _service_check(self, probe: health.HealthProbe, name: str) -> Callable[[], Awaitable[str]]:
        async def check() -> str:
            status = await probe.check(service_address(self.config, name))
            return "ok" if status == "SERVING" else status

        return check

    async def _etcd_check(self) -> str:
        for endpoint in self.config.etcd_endpoints:
            if await health.etcd_healthy(endpoint):
                return "ok"
        return "unreachable at " + ", ".join(self.config.etcd_endpoints)

    async def _gateway_check(self) -> str:
        host = self.config.hosts[0]
        return "ok" if await health.ping(host, self.config) else f"no answer to /_ping on {host}"

    def _timeout_reason(self, pending: dict[str, str]) -> str:
        parts = [f"{name} ({why})" for name, why in pending.items()]
        reason = f"not ready within {START_TIMEOUT:.0f}s: " + ", ".join(parts)
        first = next(iter(pending))
        child = self.children.get(first)
        if child is not None and child.last_lines:
            reason += f"; last output of {first}: " + child.tail(3).replace("\n", " | ")
        return reason

    # ---- supervision --------------------------------------------------------------

    async def _watch(self, child: Child) -> None:
        """Restart ``child`` each time it dies, with back-off, until the cluster stops."""
        policy = self.policies[child.name]
        while True:
            code = await child.wait()
            self._forget_live_gauges(child)
            if self._stopping:
                return
            now = time.monotonic()
            delay = policy.on_exit(now, child.uptime())
            component = self._component(child.name)
            component.state = "restarting"
            self._save_state()
            log.warning("%s exited with status %s; restarting in %.1fs", child.name, code, delay,
                        extra={"exit_code": code})
            if child.name == "etcd" and not self.ready:
                self._fail("etcd cannot start: "
                           + (etcd_process.summarize_log(child.last_lines) or f"exit {code}"))
                return
            if policy.crash_looping(now):
                component.state = "crashloop"
                self._save_state()
                log.error("%s is crash-looping (%d exits within %.0fs)", child.name,
                          len(policy.deaths), policy.loop_window,
                          extra={"last_lines": list(child.last_lines)})
                if not self.ready:
                    self._fail(f"{child.name} keeps exiting (status {code}): "
                               + child.tail(3).replace("\n", " | "))
                    return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop_requested.wait(), delay)
            if self._stopping or self._stop_requested.is_set():
                return
            if child.name == "gateway":
                # A gateway killed with SIGKILL leaves its socket file behind.
                with contextlib.suppress(DockyardError, OSError):
                    claim_hosts(self.config.hosts)
            await child.start()
            component.restarts += 1
            component.state = "running"
            self._save_state()
            log.info("restarted %s", child.name,
                     extra={"pid": child.pid, "restarts": component.restarts})

    def _forget_live_gauges(self, child: Child) -> None:
        """Drop the live gauges (e.g. requests in flight) of a child that died.

        A child that exits cleanly drops its own; one killed with SIGKILL cannot,
        and /metrics would sum what it last held into every scrape until down.
        """
        if child.proc is None:
            return
        with contextlib.suppress(OSError):
            multiprocess.mark_process_dead(  # type: ignore[no-untyped-call]
                child.proc.pid, str(self.paths.metrics_dir))

    async def stop_all(self) -> None:
        """Stop every child in :data:`STOP_ORDER`: SIGTERM, wait, SIGKILL after a timeout."""
        self._stopping = True
        self._stop_requested.set()
        if self.state is not None:
            self.state.state = "stopping"
            self._save_state()
        for name in STOP_ORDER:
            await self._stop_child(name)
        # A watcher that was mid-restart may have started a process after its turn
        # above: let the watchers finish, then stop any such straggler.
        if self._watchers:
            await asyncio.wait(self._watchers, timeout=STOP_TIMEOUT)
        for name in STOP_ORDER:
            await self._stop_child(name)
        for task in self._watchers:
            task.cancel()

    async def _stop_child(self, name: str) -> None:
        child = self.children.get(name)
        if child is None or not child.running:
            return
        log.info("stopping %s", name, extra={"pid": child.pid})
        code = await child.stop(STOP_TIMEOUT)
        self._component(name).state = "stopped"
        self._save_state()
        log.info("stopped %s", name, extra={"exit_code": code})
