"""Prometheus metrics of the gateway, and the ``/metrics`` endpoint of the cluster.

Under the launcher every Dockyard process writes its samples to
``PROMETHEUS_MULTIPROC_DIR``; the gateway's endpoint aggregates them all, so one
scrape sees the gateway's requests and every service's RPCs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from services.common.timing import trace

log = logging.getLogger(__name__)

REQUESTS = Counter(
    "dockyard_gateway_requests_total",
    "Engine API requests answered by the gateway, by method, route and status.",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "dockyard_gateway_request_seconds",
    "Time the gateway took to answer an Engine API request (headers of a stream).",
    ["method", "route"],
)
IN_FLIGHT = Gauge(
    "dockyard_gateway_requests_in_flight",
    "Engine API requests the gateway is handling now, by route (streams, waits and "
    "attaches included, until their client leaves).",
    ["route"],
    multiprocess_mode="livesum",
)

VERSIONED_CANONICAL = "/v{version}"
UNMATCHED_ROUTE = "unmatched"
"""The route label of requests no route matched: raw paths would explode cardinality."""


def route_label(request: web.Request) -> str:
    """The matched route's path pattern without the version prefix."""
    info = request.match_info
    if info.http_exception is not None:
        return UNMATCHED_ROUTE
    resource = info.route.resource
    canonical = resource.canonical if resource is not None else ""
    # Prefixed twins of a route share its label: "/v{version}/info" → "/info".
    return canonical.removeprefix(VERSIONED_CANONICAL) or UNMATCHED_ROUTE


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    route = route_label(request)
    in_flight = IN_FLIGHT.labels(route)
    in_flight.inc()
    try:
        response = await handler(request)
        status = response.status
        return response
    except asyncio.CancelledError:
        status = 499  # the client went away first (nginx's convention)
        raise
    finally:
        in_flight.dec()
        elapsed = time.perf_counter() - started
        REQUESTS.labels(request.method, route, str(status)).inc()
        LATENCY.labels(request.method, route).observe(elapsed)
        trace("api", f"{request.method}:{route}", started, elapsed)
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "request",
                extra={"method": request.method, "path": request.path, "status": status,
                       "seconds": round(elapsed, 6)},
            )


def collecting_registry() -> CollectorRegistry:
    """Every process's samples under the launcher; this process's alone otherwise."""
    if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return registry


async def get_metrics(request: web.Request) -> web.Response:
    # A fresh registry per scrape: the multiprocess collector reads the files then.
    body = generate_latest(collecting_registry())
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def create_metrics_app() -> web.Application:
    """The separate app served on ``metrics-addr``, apart from the Engine API."""
    app = web.Application()
    app.router.add_get("/metrics", get_metrics)
    return app
