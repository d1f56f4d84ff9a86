"""The health monitor's place in the app's lifetime (only with a real cluster)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from gateway.containers.health_monitor import HealthMonitor
from gateway.keys import BACKENDS


async def health_monitor(app: web.Application) -> AsyncIterator[None]:
    backends = app[BACKENDS]
    # Unit tests' fake stores cannot watch, and they run no execd to probe with.
    if backends.processes is None or not hasattr(backends.store, "watch_prefix"):
        yield
        return
    # Through the gateway's memory of its own keys: a removal's delete of the
    # health result of a container that had none costs no etcd call.
    store = backends.own_keys if backends.own_keys is not None else backends.store
    monitor = HealthMonitor(store, backends.containers,  # type: ignore[arg-type]
                            backends.processes)
    monitor.start()
    try:
        yield
    finally:
        await monitor.close()
