"""What the gateway does once per start of Dockyard: settle, then start restart-policy containers.

Docker starts ``always`` containers, and ``unless-stopped`` ones the user did
not stop, when the daemon starts (not when a part of it restarts). Running
containers are left alone (live-restore), and the ones mid back-off
(``restarting``) are execd's: it resumes their restarts itself. What is left
are containers that had exited: their sandbox and cgroup were given back when
they stopped, so they go through the gateway's whole start path
(:meth:`ContainerLifecycle.start`), which only the gateway can run.

Whether this is a start of Dockyard or only a restart of the gateway is told
by the launch ID (:mod:`services.common.launch`): the last one handled is
kept in etcd and written after the pass, so a gateway killed half-way
through repeats it (starting a container that already runs is a no-op).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from gateway.backends import Backends
from gateway.containers.lifecycle import ContainerLifecycle
from gateway.containers.watcher import RuntimeWatcher
from launcher.health import HealthProbe
from services.common.config import DaemonConfig
from services.common.endpoints import service_address
from services.common.errors import DockyardError, InvalidArgument, NotModified, Unavailable
from services.common.etcd_store import Condition, Put, Write
from services.common.launch import current_launch_id
from services.common.paths import SERVICE_NAMES
from services.execd.models import EXITED
from services.execd.restart import RestartPolicy

log = logging.getLogger(__name__)

LAST_LAUNCH_KEY = "daemon/last-launch"
"""The launch ID whose start-up pass last completed."""
SERVICES_DEADLINE = 60.0
"""How long the pass waits for the services the gateway started beside."""
RETRY_SECONDS = 0.2
PASS_RETRY_SECONDS = 1.0
"""Pause before a start-up pass that failed is run again; doubled each time."""
PASS_RETRY_MAX_SECONDS = 30.0
PASS_ATTEMPTS = 10
"""Then the pass gives up (a few minutes): a start that keeps meeting an
Unavailable (e.g. ``--init`` with no docker-init installed) is not transient."""


class LaunchStore(Protocol):
    async def get(self, key: str) -> Any: ...
    async def commit(self, conditions: Sequence[Condition], writes: Sequence[Write]) -> bool: ...


async def until_answered(probes: list[Callable[[], Awaitable[object]]]) -> None:
    """Wait until every probe (one cheap RPC per service) succeeds; Unavailable on timeout."""
    deadline = time.monotonic() + SERVICES_DEADLINE
    for probe in probes:
        while True:
            try:
                await probe()
                break
            except DockyardError as e:
                if time.monotonic() > deadline:
                    raise Unavailable(f"services not answering: {e.message}") from None
            await asyncio.sleep(RETRY_SECONDS)


async def is_new_launch(store: LaunchStore, launch_id: str) -> bool:
    if not launch_id:
        return False
    entry = await store.get(LAST_LAUNCH_KEY)
    return entry is None or entry.value != launch_id.encode()


async def start_restart_policy_containers(lifecycle: ContainerLifecycle) -> list[str]:
    """Start the containers Docker starts with the daemon; the IDs started.

    A start refused for good is logged and skipped, as dockerd does; one that
    met a service that is down is tried again with the whole pass
    (Unavailable raised once the others were started).
    """
    started = []
    unavailable: list[str] = []
    for record in await lifecycle.records.list():
        if not record.has_been_started:
            continue
        policy = RestartPolicy()
        with contextlib.suppress(InvalidArgument):
            policy = RestartPolicy.from_host_config(record.host_config.get("RestartPolicy"))
        state = await lifecycle.state(record.id)
        if state.status != EXITED or not policy.starts_with_daemon(state.stopped_by_user):
            continue
        try:
            await lifecycle.start(record.id)
        except NotModified:
            continue
        except Unavailable as e:
            log.warning("starting %s with Dockyard waits: %s", record.id[:12], e.message)
            unavailable.append(record.id[:12])
            continue
        except DockyardError as e:
            log.warning("starting %s with Dockyard failed: %s", record.id[:12], e.message)
            continue
        started.append(record.id)
    if unavailable:
        raise Unavailable(f"not yet started: {', '.join(unavailable)}")
    return started


async def on_daemon_start(
    store: LaunchStore, lifecycle: ContainerLifecycle, launch_id: str
) -> None:
    """Run :func:`start_restart_policy_containers` once per launch."""
    if not await is_new_launch(store, launch_id):
        return
    started = await start_restart_policy_containers(lifecycle)
    if started:
        log.info("started %d containers by their restart policy", len(started),
                 extra={"containers": [c[:12] for c in started]})
    await store.commit([], [Put(LAST_LAUNCH_KEY, launch_id.encode())])


async def until_serving(config: DaemonConfig) -> None:
    """Wait until every service answers gRPC Health.

    Probed on channels of their own: a call on the gateway's channels before a
    service listens would put that channel in reconnect back-off, and a
    client's first request could then fail although the service is up.
    """
    probe = HealthProbe()
    try:
        await until_answered([
            _serving(probe, service_address(config, name)) for name in SERVICE_NAMES
        ])
    finally:
        await probe.close()


def _serving(probe: HealthProbe, address: str) -> Callable[[], Awaitable[object]]:
    async def check() -> None:
        status = await probe.check(address)
        if status != "SERVING":
            raise Unavailable(f"{address}: {status.lower()}")

    return check


async def settle_after_start(
    config: DaemonConfig, backends: Backends, watcher: RuntimeWatcher
) -> None:
    """The gateway's start-up pass, in the background once it serves (see the module doc)."""
    lifecycle = backends.lifecycle
    if lifecycle is None:
        return
    # Again until it completes, within bounds: a start of Dockyard whose pass
    # gave up at the first hiccup would leave its restart-policy containers
    # stopped with nobody to start them. Each step may be repeated (see the
    # module doc).
    delay = PASS_RETRY_SECONDS
    for attempt in range(1, PASS_ATTEMPTS + 1):
        try:
            await until_serving(config)
            await watcher.catch_up()
            await on_daemon_start(backends.store, lifecycle, current_launch_id())
            return
        except DockyardError as e:
            reason = e.message
        except Exception as e:
            log.exception("start-up pass failed")
            reason = str(e)
        if attempt == PASS_ATTEMPTS:
            log.error("start-up pass gave up after %d attempts: %s", attempt, reason)
            return
        log.error("start-up pass failed, again in %.0f s: %s", delay, reason)
        await asyncio.sleep(delay)
        delay = min(delay * 2, PASS_RETRY_MAX_SECONDS)
