"""Route tables: each resource module lists its routes as one block of :class:`Route`.

:func:`add_routes` registers each route bare and under the ``/v{version}``
prefix, as moby's router does, and never adds an implicit HEAD: dockerd
answers HEAD only where a route declares it (``/_ping``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.versioning import VERSION_PREFIX


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    """The path without version prefix, in aiohttp syntax: ``/containers/{id}/json``."""
    handler: Handler


def add_routes(app: web.Application, routes: Iterable[Route]) -> None:
    for route in routes:
        for path in (route.path, VERSION_PREFIX + route.path):
            app.router.add_route(route.method, path, route.handler)
