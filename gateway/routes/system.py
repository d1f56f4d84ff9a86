"""System routes: ``/_ping``, ``/version``, ``/info``."""

from __future__ import annotations

from aiohttp import web

from gateway.info_view import gather_info
from gateway.keys import BACKENDS, CONFIG, ENGINE_ID, HOST_FACTS
from gateway.responses import json_response
from gateway.routing import Route
from gateway.version_view import gather_version

PING_HEADERS = {
    "Cache-Control": "no-cache, no-store, must-revalidate",
    "Pragma": "no-cache",
    # "1" is the classic builder. dockerd on Linux sends "2" (BuildKit), which
    # tells buildx and compose to use /session and BuildKit's gRPC API; Dockyard
    # implements only the classic POST /build, so it must not claim BuildKit.
    "Builder-Version": "1",
    "Swarm": "inactive",
    "Content-Type": "text/plain; charset=utf-8",
}


async def get_ping(request: web.Request) -> web.Response:
    # No I/O: clients ping before every command to negotiate the version.
    return web.Response(body=b"OK", headers=PING_HEADERS)


async def head_ping(request: web.Request) -> web.Response:
    # dockerd answers HEAD with an explicit Content-Length: 0 (aiohttp would omit it).
    return web.Response(body=b"", headers={**PING_HEADERS, "Content-Length": "0"})


async def get_version(request: web.Request) -> web.Response:
    app = request.app
    return json_response(await gather_version(app[BACKENDS], app[HOST_FACTS]))


async def get_info(request: web.Request) -> web.Response:
    app = request.app
    return json_response(
        await gather_info(app[BACKENDS], app[CONFIG], app[HOST_FACTS], app[ENGINE_ID])
    )


ROUTES = (
    Route("GET", "/_ping", get_ping),
    Route("HEAD", "/_ping", head_ping),
    Route("GET", "/version", get_version),
    Route("GET", "/info", get_info),
)
