"""Requests that may change something announce it to the store mirror (gateway/store_mirror.py).

Before and after every request other than a read, so a client that got an
answer (or the first bytes of a streamed one) reads what that request did.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from gateway.store_mirror import announce_change

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@web.middleware
async def announce_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.method in READ_METHODS:
        return await handler(request)
    announce_change()
    try:
        return await handler(request)
    finally:
        announce_change()
