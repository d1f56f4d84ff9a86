"""Disk usage and reclaiming it: ``GET /system/df``, ``POST /containers/prune``
and ``POST /build/prune``.

(``/images/prune``, ``/networks/prune`` and ``/volumes/prune`` live with their
resources; ``docker system prune`` calls the four in turn.)
"""

from __future__ import annotations

from aiohttp import web

from gateway import query
from gateway.containers.prune import prune_containers
from gateway.disk_usage import disk_usage, requested_kinds
from gateway.events.prunes import emit_prune
from gateway.keys import BACKENDS
from gateway.responses import json_response
from gateway.routes.container_lifecycle import lifecycle_of
from gateway.routing import Route
from gateway.versioning import request_version
from services.common.errors import InvalidArgument


async def get_system_df(request: web.Request) -> web.Response:
    kinds = requested_kinds(request.query.getall("type", []))
    return json_response(
        await disk_usage(request.app[BACKENDS], kinds, request_version(request))
    )


async def post_containers_prune(request: web.Request) -> web.Response:
    result = await prune_containers(
        request.app[BACKENDS].containers, lifecycle_of(request), query.filters(request)
    )
    emit_prune("container", result.space_reclaimed)  # each removal reported its destroy
    return json_response({
        # Go's nil slice: null when nothing was removed, as dockerd answers.
        "ContainersDeleted": list(result.deleted) or None,
        "SpaceReclaimed": result.space_reclaimed,
    })


BUILD_PRUNE_SIZES = ("keep-storage", "reserved-space", "max-used-space", "min-free-space")


async def post_build_prune(request: web.Request) -> web.Response:
    """``docker system prune`` and ``docker builder prune`` call it; the classic builder
    keeps no cache, so there is never anything to delete (the input is still checked)."""
    query.filters(request)
    for name in BUILD_PRUNE_SIZES:
        value = request.query.get(name, "")
        if value and not value.isdigit():
            raise InvalidArgument(f"invalid value for {name}: {value!r} is not a number of bytes")
    return json_response({"CachesDeleted": None, "SpaceReclaimed": 0})


ROUTES = (
    Route("GET", "/system/df", get_system_df),
    Route("POST", "/containers/prune", post_containers_prune),
    Route("POST", "/build/prune", post_build_prune),
)
