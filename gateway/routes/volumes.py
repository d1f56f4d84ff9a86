"""Volume routes: list, inspect, create, remove, prune (imaged's Volumes service does the work).

``docker inspect NAME`` tries containers, images, networks and volumes in
turn, so an unknown name is a plain 404 ``get NAME: no such volume``.
"""

from __future__ import annotations

import json

from aiohttp import web

from gateway import query
from gateway.backends import VolumeBackend
from gateway.events.prunes import emit_volumes_pruned
from gateway.events.resources import emit_volume
from gateway.keys import BACKENDS
from gateway.responses import json_response
from gateway.routing import Route
from gateway.versioning import compare, request_version
from gateway.volume_views import list_json, prune_json, spec_from_body, volume_json
from services.common.errors import InvalidArgument, Unavailable


def _volumes(request: web.Request) -> VolumeBackend:
    backend = request.app[BACKENDS].volumes
    if backend is None:
        raise Unavailable("volumes are not available: imaged's Volumes service is not connected")
    return backend


async def get_volumes(request: web.Request) -> web.Response:
    volumes = await _volumes(request).list_volumes(query.filters(request))
    return json_response(list_json(volumes))


async def get_volume(request: web.Request) -> web.Response:
    volume = await _volumes(request).inspect_volume(request.match_info["name"])
    return json_response(volume_json(volume))


async def post_volumes_create(request: web.Request) -> web.Response:
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError as exc:
        raise InvalidArgument(f"invalid JSON: {exc}") from None
    volume = await _volumes(request).create_volume(spec_from_body(body))
    emit_volume(volume.name, "create", volume.driver)
    return json_response(volume_json(volume), status=201)


async def delete_volume(request: web.Request) -> web.Response:
    await _volumes(request).remove_volume(
        request.match_info["name"], force=query.bool_value(request, "force")
    )
    emit_volume(request.match_info["name"], "destroy")
    return web.Response(status=204)


async def post_volumes_prune(request: web.Request) -> web.Response:
    filters = query.filters(request)
    if compare(request_version(request), "1.42") < 0:
        # Before API 1.42 prune removed every unused volume, named ones included.
        filters = {**filters, "all": ("true",)}
    result = await _volumes(request).prune_volumes(filters)
    emit_volumes_pruned(result.deleted, result.space_reclaimed)
    return json_response(prune_json(result))


ROUTES = (
    Route("GET", "/volumes", get_volumes),
    Route("GET", "/volumes/{name}", get_volume),
    Route("POST", "/volumes/create", post_volumes_create),
    Route("POST", "/volumes/prune", post_volumes_prune),
    Route("DELETE", "/volumes/{name}", delete_volume),
)
