"""``POST /containers/{id}/update``: limits and restart policy of a container (docker update)."""

from __future__ import annotations

import json

from aiohttp import web

from gateway.containers.update import ContainerUpdater, decode_update
from gateway.containers.validation import HostLimits
from gateway.events import emit_container
from gateway.keys import BACKENDS, CONFIG, HOST_FACTS
from gateway.responses import json_response
from gateway.routes.container_lifecycle import lifecycle_of, processes_of
from gateway.routing import Route
from services.common.errors import InvalidArgument


def _limits(request: web.Request) -> HostLimits:
    config = request.app[CONFIG]
    runtimes = {"runc", config.default_runtime, *config.runtimes}
    return HostLimits(ncpu=request.app[HOST_FACTS].ncpu, runtimes=frozenset(runtimes))


async def _body(request: web.Request) -> object:
    raw = await request.read()
    try:
        return json.loads(raw) if raw.strip() else None
    except ValueError as exc:
        raise InvalidArgument(f"invalid JSON: {exc}") from None


async def post_container_update(request: web.Request) -> web.Response:
    update = decode_update(await _body(request), _limits(request))
    lifecycle = lifecycle_of(request)
    backends = request.app[BACKENDS]
    record = await backends.containers.get(request.match_info["id"])
    updater = ContainerUpdater(backends.containers, backends.store, backends.cgroups,
                               processes_of(request))
    # Under the lifecycle lock: a start running meanwhile makes the cgroup from
    # either the old record or the new one, never misses the live update.
    async with lifecycle.lock(record.id):
        record = await backends.containers.get(record.id)
        result = await updater.update(record, update)
    emit_container(record, "update")
    return json_response({"Warnings": list(result.warnings)})


ROUTES = (
    Route("POST", "/containers/{id}/update", post_container_update),
)
