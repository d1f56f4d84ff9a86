"""Network routes: list, inspect, create, remove, prune, connect and disconnect."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from gateway import query
from gateway.containers import network_attach
from gateway.events import prunes as prune_events
from gateway.events import resources as resource_events
from gateway.keys import BACKENDS
from gateway.network_views import network_json, spec_from_body
from gateway.responses import json_response
from gateway.routing import Route
from services.common.errors import InvalidArgument, NotFound


async def get_networks(request: web.Request) -> web.Response:
    networks = await request.app[BACKENDS].networks.list_networks(query.filters(request))
    return json_response([network_json(n, with_containers=False) for n in networks])


async def get_network(request: web.Request) -> web.Response:
    ref = request.match_info["id"]
    scope = request.query.get("scope", "")
    # Only local networks exist here: asking for swarm/global scope finds none.
    if scope not in ("", "local"):
        raise NotFound(f"network {ref} not found")
    network = await request.app[BACKENDS].networks.inspect_network(ref)
    return json_response(network_json(network))


async def _json_body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read() or b"{}")
    except ValueError as exc:
        raise InvalidArgument(f"invalid JSON: {exc}") from None


async def post_networks_create(request: web.Request) -> web.Response:
    body = await _json_body(request)
    network = await request.app[BACKENDS].networks.create_network(spec_from_body(body))
    resource_events.emit_network(network, "create")
    return json_response({"Id": network.id, "Warning": ""}, status=201)


async def delete_network(request: web.Request) -> web.Response:
    removed = await resource_events.network_of(
        request.app[BACKENDS].networks, request.match_info["id"])
    await request.app[BACKENDS].networks.remove_network(request.match_info["id"])
    if removed is not None:
        resource_events.emit_network(removed, "destroy")
    return web.Response(status=204)


async def post_networks_prune(request: web.Request) -> web.Response:
    networks = request.app[BACKENDS].networks
    filters = query.filters(request)
    before = await networks.list_networks()
    deleted = await networks.prune_networks(filters)
    prune_events.emit_networks_pruned(before, deleted)
    return json_response({"NetworksDeleted": deleted})


async def post_network_connect(request: web.Request) -> web.Response:
    connect = network_attach.parse_connect(await _json_body(request))
    await network_attach.connect(request.app[BACKENDS], request.match_info["id"], connect)
    await resource_events.emit_attachment(
        request.app[BACKENDS], request.match_info["id"], connect.container, "connect")
    return web.Response(status=200)


async def post_network_disconnect(request: web.Request) -> web.Response:
    disconnect = network_attach.parse_disconnect(await _json_body(request))
    await network_attach.disconnect(request.app[BACKENDS], request.match_info["id"], disconnect)
    await resource_events.emit_attachment(
        request.app[BACKENDS], request.match_info["id"], disconnect.container, "disconnect")
    return web.Response(status=200)


ROUTES = (
    Route("GET", "/networks", get_networks),
    Route("GET", "/networks/{id}", get_network),
    Route("POST", "/networks/create", post_networks_create),
    Route("POST", "/networks/prune", post_networks_prune),
    Route("POST", "/networks/{id}/connect", post_network_connect),
    Route("POST", "/networks/{id}/disconnect", post_network_disconnect),
    Route("DELETE", "/networks/{id}", delete_network),
)
