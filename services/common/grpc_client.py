"""Client-side helpers shared by the typed service clients."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc

from services.common.errors import DockyardError
from services.common.grpc_errors import error_from_rpc

T = TypeVar("T")

DEFAULT_TIMEOUT = 5.0


# gRPC's default reconnect back-off starts at 1 s and grows to 2 minutes: a
# client that once found a service down (started before it, or across its
# restart) would fail every call for that long after the service is back.
# Services are local and restart in about a second: retry every 100 ms to 1 s.
CHANNEL_OPTIONS = (
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
)


def open_channel(target: str) -> grpc.aio.Channel:
    """An insecure channel to a service on a unix socket (``unix:/path``) or TCP."""
    return grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS)


async def call(rpc: Callable[[], Awaitable[T]]) -> T:
    """Run one RPC, turning its failure into the typed error the service raised."""
    try:
        return await rpc()
    except grpc.aio.AioRpcError as exc:
        raise error_from_rpc(exc) from None


__all__ = ["DEFAULT_TIMEOUT", "DockyardError", "call", "open_channel"]
