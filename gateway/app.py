"""The Engine API application: middlewares, routes, and the backends' lifetime.

:func:`create_app` is the one factory. The real gateway lets it connect the
service clients and etcd at start-up; unit tests pass ``backends`` (fakes of the
small interfaces in :mod:`gateway.backends`) and need no cluster.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from gateway.announce import announce_middleware
from gateway.backends import Backends, connect_backends
from gateway.containers.daemon_start import settle_after_start
from gateway.containers.health_lifetime import health_monitor
from gateway.containers.watcher import RuntimeWatcher
from gateway.errors import error_middleware
from gateway.events.exec_follows import exec_follows
from gateway.events.lifetime import event_journal
from gateway.headers import add_common_headers
from gateway.identity import ensure_engine_id
from gateway.keys import BACKENDS, CONFIG, ENGINE_ID, HOST_FACTS, WATCHER
from gateway.metrics import metrics_middleware
from gateway.routes import ALL_ROUTES
from gateway.routing import add_routes
from gateway.sysinfo import HostFacts, read_host_facts
from gateway.versioning import version_middleware
from services.common.config import DaemonConfig

# Docker clients upload image and build-context archives in one request body.
MAX_BODY_BYTES = 1 << 40

CleanupContext = Callable[[web.Application], AsyncIterator[None]]


def _backends_context(config: DaemonConfig, injected: Backends | None) -> CleanupContext:
    async def backends(app: web.Application) -> AsyncIterator[None]:
        if injected is not None:
            app[BACKENDS] = injected
            yield
            return
        async with connect_backends(config) as connected:
            app[BACKENDS] = connected
            yield

    return backends


async def _engine_identity(app: web.Application) -> AsyncIterator[None]:
    app[ENGINE_ID] = await ensure_engine_id(app[BACKENDS].store)
    yield


async def _runtime_watcher(app: web.Application) -> AsyncIterator[None]:
    """Follow process states: only with a real cluster (unit tests' fakes have no lifecycle)."""
    lifecycle = app[BACKENDS].lifecycle
    store = app[BACKENDS].store
    if lifecycle is None or not hasattr(store, "watch_prefix"):
        yield
        return
    watcher = RuntimeWatcher(store, lifecycle)  # type: ignore[arg-type]
    app[WATCHER] = watcher
    watcher.start()
    # In the background: it waits for the services started beside the gateway.
    settling = asyncio.ensure_future(settle_after_start(app[CONFIG], app[BACKENDS], watcher))
    try:
        yield
    finally:
        settling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await settling
        await watcher.close()


def create_app(
    config: DaemonConfig,
    *,
    backends: Backends | None = None,
    host_facts: HostFacts | None = None,
) -> web.Application:
    app = web.Application(
        # Outermost first: metrics see the final status, errors are rendered
        # before metrics count them, the version is checked inside both; a
        # change is announced only by a request that reached its handler.
        middlewares=[metrics_middleware, error_middleware, version_middleware,
                     announce_middleware],
        client_max_size=MAX_BODY_BYTES,
    )
    app[CONFIG] = config
    app[HOST_FACTS] = host_facts or read_host_facts()
    app.on_response_prepare.append(add_common_headers)
    app.cleanup_ctx.append(_backends_context(config, backends))
    app.cleanup_ctx.append(_engine_identity)
    app.cleanup_ctx.append(event_journal)
    app.cleanup_ctx.append(exec_follows)
    app.cleanup_ctx.append(_runtime_watcher)
    app.cleanup_ctx.append(health_monitor)
    add_routes(app, ALL_ROUTES)
    return app
