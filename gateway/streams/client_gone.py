"""Ending a streaming handler whose client went away.

aiohttp runs a handler on after its client closed the connection (handler
cancellation is off here, on purpose: a create or a stop must not be cut
half-way by a client that leaves). A handler that waits without writing —
``docker wait`` on a container that runs for days (``docker run -d`` leaves
one behind), ``docker events`` or ``logs -f`` on a quiet source — would stay
with its task and listeners until something happens, and hold the gateway's
shutdown for its whole grace period. Those run their wait through
:func:`while_connected`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from aiohttp import web

CLIENT_POLL_SECONDS = 1.0
"""How often a waiting handler looks whether its client is still there."""

T = TypeVar("T")


def connected(request: web.BaseRequest) -> bool:
    """Whether the client's connection is still open."""
    # request.transport is cached at first use; the protocol's is cleared on loss.
    transport = request.protocol.transport
    return transport is not None and not transport.is_closing()


class ClientGone(ConnectionResetError):
    """The client closed its connection while its handler waited."""


async def while_connected(
    request: web.BaseRequest, work: Awaitable[T], poll_seconds: float = CLIENT_POLL_SECONDS
) -> T:
    """The result of ``work``; ClientGone (``work`` cancelled) once the client has left."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=poll_seconds)
            if done:
                return task.result()
            if not connected(request):
                raise ClientGone("the client closed the connection")
    finally:
        if not task.done():
            task.cancel()
            # Its clean-up runs before the handler's; a cancel of the handler
            # itself still goes through (wait() does not swallow it).
            await asyncio.wait({task})
