"""Headers dockerd's middlewares put on every response.

Set from ``on_response_prepare`` rather than a middleware so that streamed and
hijacked responses, which are prepared inside their handler, carry them too.
"""

from __future__ import annotations

from aiohttp import web

from gateway.buildinfo import BUILD, ENGINE_NAME
from gateway.versioning import API_VERSION

# Spelled as Go canonicalises them on the wire (API-Version → Api-Version).
COMMON_HEADERS: tuple[tuple[str, str], ...] = (
    ("Api-Version", API_VERSION),
    ("Docker-Experimental", "false"),
    ("Ostype", "linux"),
    # dockerd sends "Docker/27.x (linux)". No client parses it; naming the real
    # engine keeps bug reports honest (Podman sends "Libpod/…" the same way).
    ("Server", f"{ENGINE_NAME}/{BUILD.version} (linux)"),
)


async def add_common_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in COMMON_HEADERS:
        response.headers[name] = value
