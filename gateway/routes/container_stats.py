"""``GET /containers/{id}/stats``: resource usage, streamed or once (docker stats)."""

from __future__ import annotations

import contextlib

from aiohttp import web

from gateway import query
from gateway.containers.stats_feed import StatsFeed
from gateway.keys import BACKENDS
from gateway.responses import JSON_CONTENT_TYPE, encode_json, json_response
from gateway.routing import Route
from gateway.versioning import compare, request_version
from services.common.errors import InvalidArgument


def _feed(request: web.Request) -> StatsFeed:
    backends = request.app[BACKENDS]
    return StatsFeed(backends.containers, backends.store, backends.cgroups, backends.networks)


def _flag(request: web.Request, name: str, default: bool) -> bool:
    """moby's BoolValueOrDefault: an absent (or empty) parameter takes the default."""
    if not request.query.get(name, ""):
        return default
    return query.bool_value(request, name)


async def get_container_stats(request: web.Request) -> web.StreamResponse:
    stream = _flag(request, "stream", True)
    # one-shot came with API 1.41; older clients' value is ignored, as dockerd does.
    one_shot = compare(request_version(request), "1.41") >= 0 and _flag(request, "one-shot", False)
    record = await request.app[BACKENDS].containers.get(request.match_info["id"])
    if stream and one_shot:
        raise InvalidArgument("cannot have stream=true and one-shot=true")
    feed = _feed(request)
    if not stream:
        return json_response(await feed.once(record, one_shot=one_shot))
    response = web.StreamResponse(headers={"Content-Type": JSON_CONTENT_TYPE})
    await response.prepare(request)
    # The client ends a stream by hanging up; writing to it then fails.
    with contextlib.suppress(ConnectionError):
        async for message in feed.stream(record):
            await response.write(encode_json(message))
        await response.write_eof()
    return response


ROUTES = (
    Route("GET", "/containers/{id}/stats", get_container_stats),
)
