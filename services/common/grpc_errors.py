"""The one place typed errors become gRPC status codes, and back.

:class:`ErrorInterceptor` wraps every handler of a service: a
:class:`~services.common.errors.DockyardError` aborts the call with its code and
message; anything else is logged with its traceback and becomes INTERNAL. It
also counts calls and times them for Prometheus.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeAlias

import grpc
from prometheus_client import Counter, Histogram

from services.common import errors
from services.common.etcd_store import unavailable_from
from services.common.timing import trace

log = logging.getLogger(__name__)

Context: TypeAlias = "grpc.aio.ServicerContext[Any, Any]"
"""The servicer context every async handler receives."""
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"

_CODE_BY_KIND: dict[type[errors.DockyardError], grpc.StatusCode] = {
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.Conflict: grpc.StatusCode.ALREADY_EXISTS,
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotModified: grpc.StatusCode.FAILED_PRECONDITION,
    errors.Forbidden: grpc.StatusCode.PERMISSION_DENIED,
    errors.Unauthorized: grpc.StatusCode.UNAUTHENTICATED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    errors.Internal: grpc.StatusCode.INTERNAL,
}
_KIND_BY_CODE = {code: kind for kind, code in _CODE_BY_KIND.items()}
_PEER_GONE = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)

RPC_CALLS = Counter(
    "dockyard_grpc_server_handled_total",
    "gRPC calls handled by a Dockyard service, by method and status code.",
    ["service", "method", "code"],
)
RPC_LATENCY = Histogram(
    "dockyard_grpc_server_handling_seconds",
    "Time a Dockyard service took to handle a gRPC call.",
    ["service", "method"],
)


def status_code_for(exc: BaseException) -> grpc.StatusCode:
    """The status code a raised exception is reported with."""
    for kind in type(exc).__mro__:
        if kind in _CODE_BY_KIND:
            return _CODE_BY_KIND[kind]
    return grpc.StatusCode.INTERNAL


def error_from_rpc(exc: grpc.aio.AioRpcError) -> errors.DockyardError:
    """Turn a failed call back into the typed error the service raised.

    Clients call this so the gateway sees the same kinds the services raise;
    a service that cannot be reached at all is :class:`errors.Unavailable`.
    """
    kind = _KIND_BY_CODE.get(exc.code(), errors.Internal)
    # A call this process cancels ends in asyncio.CancelledError, never here: a
    # CANCELLED status means the peer went away mid-call (killed, restarting).
    if exc.code() in _PEER_GONE:
        kind = errors.Unavailable
    return kind(exc.details() or exc.code().name.lower())


def _split_method(full: str) -> tuple[str, str]:
    service, _, method = full.lstrip("/").rpartition("/")
    return service, method


class ErrorInterceptor(grpc.aio.ServerInterceptor):
    """Maps typed errors to status codes and records call metrics."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        # Handlers of an aio server are coroutines and async generators; the
        # stubs type them as sync callables, hence Any.
        handler: Any = await continuation(handler_call_details)
        if handler is None:
            return handler
        service, method = _split_method(handler_call_details.method)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                _wrap_unary(handler.unary_unary, service, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                _wrap_stream(handler.unary_stream, service, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                _wrap_unary(handler.stream_unary, service, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(
                _wrap_stream(handler.stream_stream, service, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler  # type: ignore[no-any-return]


async def _abort(context: Context, exc: BaseException, method: str) -> None:
    code = status_code_for(exc)
    if isinstance(exc, errors.DockyardError):
        message = exc.message
    else:
        log.error("unexpected error in %s", method, exc_info=exc)
        message = f"internal error: {exc}"
    await context.abort(code, message)


@contextlib.asynccontextmanager
async def _handled(context: Context, service: str, method: str) -> AsyncIterator[None]:
    """Abort the call with the status a raised error maps to; count and time it."""
    start = time.perf_counter()
    code = grpc.StatusCode.OK
    try:
        yield
    except grpc.aio.AbortError:
        # The handler aborted with a status of its own: let it through untouched.
        code = context.code() or grpc.StatusCode.UNKNOWN
        raise
    except Exception as exc:
        reported = unavailable_from(exc) or exc
        code = status_code_for(reported)
        await _abort(context, reported, method)
    finally:
        elapsed = time.perf_counter() - start
        RPC_CALLS.labels(service, method, code.name).inc()
        RPC_LATENCY.labels(service, method).observe(elapsed)
        trace("rpc", f"{service}.{method}", start, elapsed)


def _wrap_unary(
    behaviour: Callable[[Any, Context], Awaitable[Any]], service: str, method: str
) -> Callable[[Any, Context], Awaitable[Any]]:
    async def handle(request: Any, context: Context) -> Any:
        async with _handled(context, service, method):
            return await _to_completion(behaviour(request, context))

    return handle


async def _to_completion(operation: Awaitable[Any]) -> Any:
    """Run a unary call's work to its end even if the client goes away.

    gRPC cancels the handler of a caller that disconnects (a gateway killed
    mid-request): a create or remove cut at an await would leave its kernel
    object and its record out of step. The caller gets no answer either way;
    the work is done whole, or fails whole and undoes itself.
    """
    task = asyncio.ensure_future(operation)
    task.add_done_callback(_retrieve_outcome)
    return await asyncio.shield(task)


def _retrieve_outcome(task: asyncio.Future[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.debug("call finished after its client left: %s", task.exception())


def _wrap_stream(
    behaviour: Callable[[Any, Context], AsyncIterator[Any]], service: str, method: str
) -> Callable[[Any, Context], AsyncIterator[Any]]:
    async def handle(request: Any, context: Context) -> AsyncIterator[Any]:
        async with _handled(context, service, method):
            async for response in behaviour(request, context):
                yield response

    return handle
