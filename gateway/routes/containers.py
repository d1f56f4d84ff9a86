"""Container record routes: create, list, inspect, rename.

The runtime routes (start, stop, wait, logs, attach, exec, rm …) are in
:mod:`gateway.routes.container_lifecycle`.
"""

from __future__ import annotations

import contextlib
import json

from aiohttp import web

from gateway import query
from gateway.containers import network_attach
from gateway.containers.create import CreateRequest, create_container, decode_body
from gateway.containers.list_filters import ListOptions
from gateway.containers.listing import inspect_container, list_containers_body
from gateway.containers.validation import HostLimits
from gateway.events import emit_container
from gateway.events.containers import emit_for
from gateway.keys import BACKENDS, CONFIG, HOST_FACTS
from gateway.responses import encoded_json_response, json_response
from gateway.routing import Route
from gateway.versioning import request_version
from services.common.errors import DockyardError, InvalidArgument


def _limits(request: web.Request) -> HostLimits:
    config = request.app[CONFIG]
    runtimes = {"runc", config.default_runtime, *config.runtimes}
    return HostLimits(ncpu=request.app[HOST_FACTS].ncpu, runtimes=frozenset(runtimes))


async def _create_request(request: web.Request) -> CreateRequest:
    raw = await request.read()
    content_type = request.headers.get("Content-Type", "")
    if raw and content_type and content_type.split(";")[0].strip() != "application/json":
        raise InvalidArgument(
            f"unsupported Content-Type header ({content_type}): must be 'application/json'"
        )
    try:
        body = json.loads(raw) if raw else None
    except ValueError as exc:
        raise InvalidArgument(f"invalid JSON: {exc}") from None
    return decode_body(body, request.query.get("name", ""), request_version(request))


async def post_containers_create(request: web.Request) -> web.Response:
    create = await _create_request(request)
    container_id = await create_container(
        request.app[BACKENDS], request.app[CONFIG], _limits(request), create
    )
    await emit_for(request.app[BACKENDS].containers, container_id, "create")
    return json_response({"Id": container_id, "Warnings": []}, status=201)


async def get_containers_json(request: web.Request) -> web.Response:
    raw_limit = request.query.get("limit", "") or "-1"
    try:
        limit = int(raw_limit)
    except ValueError:
        raise InvalidArgument(f'strconv.Atoi: parsing "{raw_limit}": invalid syntax') from None
    options = ListOptions(
        all=query.bool_value(request, "all"), limit=limit,
        size=query.bool_value(request, "size"), filters=query.filters(request),
    )
    return encoded_json_response(await list_containers_body(request.app[BACKENDS], options))


async def get_container_json(request: web.Request) -> web.Response:
    body = await inspect_container(
        request.app[BACKENDS], request.match_info["id"], size=query.bool_value(request, "size")
    )
    return encoded_json_response(body)


async def post_container_rename(request: web.Request) -> web.Response:
    backends = request.app[BACKENDS]
    old = None
    with contextlib.suppress(DockyardError):  # rename itself reports a bad reference
        old = await backends.containers.get(request.match_info["id"])
    renamed = await backends.containers.rename(
        request.match_info["id"], request.query.get("name", "")
    )
    try:
        await network_attach.follow_rename(backends, renamed)
    except DockyardError:
        if old is not None:  # as dockerd: the old name comes back when the network cannot follow
            with contextlib.suppress(DockyardError):
                restored = await backends.containers.rename(renamed.id, old.name)
                await network_attach.follow_rename(backends, restored)
        raise
    emit_container(renamed, "rename", oldName=old.name if old is not None else "")
    return web.Response(status=204)


ROUTES = (
    Route("GET", "/containers/json", get_containers_json),
    Route("GET", "/containers/{id}/json", get_container_json),
    Route("POST", "/containers/create", post_containers_create),
    Route("POST", "/containers/{id}/rename", post_container_rename),
)
