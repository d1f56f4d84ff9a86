"""Container process routes: start, stop, restart, kill, pause, wait, remove, logs, attach, top."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import web

from dockyard.execd.v1 import execd_pb2
from gateway import query
from gateway.containers.lifecycle import ContainerLifecycle
from gateway.containers.watcher import RuntimeWatcher
from gateway.events import emit_container
from gateway.keys import BACKENDS, WATCHER
from gateway.responses import encode_json, json_response
from gateway.routing import Route
from gateway.streams import stdcopy
from gateway.streams.client_gone import ClientGone, while_connected
from gateway.streams.detach import DetachKeys, parse_detach_keys
from gateway.streams.hijack import (
    MULTIPLEXED_STREAM,
    RAW_STREAM,
    Hijacked,
    HijackedConnection,
    hijack,
)
from gateway.streams.logtimes import format_timestamp, parse_log_time
from services.common.errors import InvalidArgument, NotFound, Unavailable
from services.execd.client import ContainersClient
from services.execd.models import CREATED, EXITED, PAUSED, RESTARTING, RUNNING, RuntimeState

NO_CONTENT = 204
INT32_MAX = (1 << 31) - 1


def lifecycle_of(request: web.Request) -> ContainerLifecycle:
    lifecycle = request.app[BACKENDS].lifecycle
    if lifecycle is None:
        raise Unavailable("the container runtime is not connected")
    return lifecycle


def processes_of(request: web.Request) -> ContainersClient:
    processes = request.app[BACKENDS].processes
    if processes is None:
        raise Unavailable("the container runtime is not connected")
    return processes


def _timeout(request: web.Request) -> int | None:
    text = request.query.get("t", "")
    if text == "":
        return None
    try:
        seconds = query.parse_int(text)
    except query.NumberError:
        raise InvalidArgument(f"invalid value for t: {text!r}: not an integer") from None
    # dockerd takes any 64-bit count; past 2**31 s (68 years) the wait is the same,
    # and negative waits forever either way: clamp to what the runtime carries.
    return max(min(seconds, INT32_MAX), -1)


async def post_container_start(request: web.Request) -> web.Response:
    await lifecycle_of(request).start(request.match_info["id"])
    return web.Response(status=NO_CONTENT)


async def post_container_stop(request: web.Request) -> web.Response:
    await lifecycle_of(request).stop(
        request.match_info["id"], request.query.get("signal", ""), _timeout(request)
    )
    return web.Response(status=NO_CONTENT)


async def post_container_restart(request: web.Request) -> web.Response:
    await lifecycle_of(request).restart(
        request.match_info["id"], request.query.get("signal", ""), _timeout(request)
    )
    return web.Response(status=NO_CONTENT)


async def post_container_kill(request: web.Request) -> web.Response:
    await lifecycle_of(request).kill(request.match_info["id"], request.query.get("signal", ""))
    return web.Response(status=NO_CONTENT)


async def post_container_pause(request: web.Request) -> web.Response:
    await lifecycle_of(request).pause(request.match_info["id"])
    return web.Response(status=NO_CONTENT)


async def post_container_unpause(request: web.Request) -> web.Response:
    await lifecycle_of(request).unpause(request.match_info["id"])
    return web.Response(status=NO_CONTENT)


async def delete_container(request: web.Request) -> web.Response:
    await lifecycle_of(request).remove(
        request.match_info["id"],
        force=query.bool_value(request, "force"),
        volumes=query.bool_value(request, "v"),
    )
    return web.Response(status=NO_CONTENT)


# ---- wait --------------------------------------------------------------------------------

WAIT_CONDITIONS = ("not-running", "next-exit", "removed")


def _not_running(state: RuntimeState) -> bool:
    return state.status not in (RUNNING, PAUSED)


async def _wait_for(
    watcher: RuntimeWatcher, lifecycle: ContainerLifecycle, container_id: str, condition: str
) -> RuntimeState:
    """The state once ``condition`` holds (Docker's wait conditions)."""
    queue = watcher.listen(container_id)
    removed = watcher.listen_removal(container_id)
    try:
        state = await lifecycle.state(container_id)
        if condition == "not-running" and _not_running(state):
            return state
        if condition == "removed":
            try:
                await lifecycle.records.get(container_id)
            except NotFound:
                return state
        while True:
            getter = asyncio.ensure_future(queue.get())
            gone = asyncio.ensure_future(removed.wait())
            done, _ = await asyncio.wait({getter, gone}, return_when=asyncio.FIRST_COMPLETED)
            gone.cancel()
            if getter in done:
                state = getter.result()
            else:
                getter.cancel()
                return state
            stopped = state.status in (EXITED, RESTARTING, CREATED)
            if stopped and condition != "removed":
                return state
    finally:
        watcher.unlisten(container_id, queue)
        watcher.unlisten_removal(container_id, removed)


async def post_container_wait(request: web.Request) -> web.StreamResponse:
    condition = request.query.get("condition", "") or "not-running"
    if condition not in WAIT_CONDITIONS:
        raise InvalidArgument(f"invalid condition: \"{condition}\"")
    lifecycle = lifecycle_of(request)
    record = await lifecycle.records.get(request.match_info["id"])
    watcher = request.app[WATCHER]
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    # Headers go out at once: the CLI waits for them before it starts the container.
    await response.prepare(request)
    error: dict[str, Any] | None = None
    try:
        state = await while_connected(request, _wait_for(watcher, lifecycle, record.id, condition))
        code = state.exit_code
    except NotFound as e:
        code, error = -1, {"Message": e.message}
    except ClientGone:
        return response  # e.g. `docker run -d`'s, which the CLI leaves behind
    # The client may have gone (`docker run` returns once its attach ends).
    with contextlib.suppress(ConnectionError):
        await response.write(encode_json({"Error": error, "StatusCode": code}))
        await response.write_eof()
    return response


# ---- logs -----------------------------------------------------------------------------------


def _logs_request(request: web.Request, container_id: str) -> execd_pb2.ReadLogsRequest:
    stdout = query.bool_value(request, "stdout")
    stderr = query.bool_value(request, "stderr")
    if not stdout and not stderr:
        raise InvalidArgument("Bad parameters: you must choose at least one stream")
    tail_text = request.query.get("tail", "all") or "all"
    try:
        tail = -1 if tail_text == "all" else query.parse_int(tail_text)
    except query.NumberError:
        tail = -1  # dockerd shows everything for a tail it cannot read
    return execd_pb2.ReadLogsRequest(
        container_id=container_id,
        follow=query.bool_value(request, "follow"),
        stdout=stdout,
        stderr=stderr,
        since_nanos=parse_log_time(request.query.get("since", "")),
        until_nanos=parse_log_time(request.query.get("until", "")),
        tail=tail,
    )


async def get_container_logs(request: web.Request) -> web.StreamResponse:
    lifecycle = lifecycle_of(request)
    record = await lifecycle.records.get(request.match_info["id"])
    log_request = _logs_request(request, record.id)
    tty = bool(record.config.get("Tty"))
    timestamps = query.bool_value(request, "timestamps")
    response = web.StreamResponse(
        headers={"Content-Type": RAW_STREAM if tty else MULTIPLEXED_STREAM}
    )
    await response.prepare(request)

    async def relay() -> None:
        async for line in processes_of(request).read_logs(log_request):
            data = line.data
            if timestamps:
                data = format_timestamp(line.time_nanos).encode() + b" " + data
            await response.write(data if tty else stdcopy.frame(line.stream, data))

    with contextlib.suppress(ConnectionError):  # ClientGone too: `logs -f` of a quiet one
        await while_connected(request, relay())
        await response.write_eof()
    return response


# ---- attach -----------------------------------------------------------------------------


async def pump_stdin(
    connection: HijackedConnection, send: Any, close_stdin: Any, detach: DetachKeys | None,
    detached: asyncio.Event,
) -> None:
    """Client bytes to the container's stdin, watching for the detach sequence."""
    while (data := await connection.read()) is not None:
        if detach is not None:
            data, matched = detach.scan(data)
            if data:
                await send(data)
            if matched:
                detached.set()
                return
        else:
            await send(data)
    await close_stdin()


async def post_container_attach(request: web.Request) -> web.StreamResponse:
    lifecycle = lifecycle_of(request)
    processes = processes_of(request)
    record = await lifecycle.records.get(request.match_info["id"])
    stdin = query.bool_value(request, "stdin")
    stdout = query.bool_value(request, "stdout")
    stderr = query.bool_value(request, "stderr")
    stream = query.bool_value(request, "stream")
    logs = query.bool_value(request, "logs")
    detach = parse_detach_keys(request.query.get("detachKeys", ""))
    tty = bool(record.config.get("Tty"))
    # Register with execd before answering: a start that follows loses no output.
    attached = (
        await processes.attach(record.id, stdin=stdin, stdout=stdout, stderr=stderr)
        if stream else None
    )
    connection = hijack(request, RAW_STREAM if tty else MULTIPLEXED_STREAM)
    emit_container(record, "attach")

    async def emit(stream_id: int, data: bytes) -> None:
        await connection.write(data if tty else stdcopy.frame(stream_id, data))

    try:
        if logs and (stdout or stderr):
            replay = execd_pb2.ReadLogsRequest(
                container_id=record.id, stdout=stdout, stderr=stderr, tail=-1)
            with contextlib.suppress(NotFound):
                async for line in processes.read_logs(replay):
                    await emit(line.stream, line.data)
        if attached is not None:
            detached = asyncio.Event()
            pump = None
            if stdin:
                pump = asyncio.ensure_future(pump_stdin(
                    connection, attached.send, attached.close_stdin, detach, detached))

            async def relay() -> None:
                async for stream_id, data in attached.output():
                    await emit(stream_id, data)

            output = asyncio.ensure_future(relay())
            waiters = {output, asyncio.ensure_future(detached.wait()),
                       asyncio.ensure_future(connection.closed.wait())}
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
            if pump is not None:
                pump.cancel()
            attached.cancel()
    finally:
        connection.close()
    return Hijacked()


async def post_container_resize(request: web.Request) -> web.Response:
    height, width = size_query(request)
    record = await lifecycle_of(request).records.get(request.match_info["id"])
    await processes_of(request).resize_tty(record.id, height, width)
    emit_container(record, "resize", height=str(height), width=str(width))
    return web.Response(status=200)


def size_query(request: web.Request) -> tuple[int, int]:
    """``h`` and ``w``: both required, each a terminal size that fits 32 bits (as dockerd)."""
    return (query.uint32_value(request, "h", "resize height"),
            query.uint32_value(request, "w", "resize width"))


async def get_container_top(request: web.Request) -> web.Response:
    lifecycle = lifecycle_of(request)
    record = await lifecycle.records.get(request.match_info["id"])
    state = await lifecycle.state(record.id)
    if state.status not in (RUNNING, PAUSED):
        from services.common.errors import Conflict

        raise Conflict(f"Container {record.id} is not running")
    titles, rows = await processes_of(request).list_processes(
        record.id, request.query.get("ps_args", "")
    )
    return json_response({"Titles": titles, "Processes": rows})


ROUTES = (
    Route("POST", "/containers/{id}/start", post_container_start),
    Route("POST", "/containers/{id}/stop", post_container_stop),
    Route("POST", "/containers/{id}/restart", post_container_restart),
    Route("POST", "/containers/{id}/kill", post_container_kill),
    Route("POST", "/containers/{id}/pause", post_container_pause),
    Route("POST", "/containers/{id}/unpause", post_container_unpause),
    Route("POST", "/containers/{id}/wait", post_container_wait),
    Route("POST", "/containers/{id}/attach", post_container_attach),
    Route("POST", "/containers/{id}/resize", post_container_resize),
    Route("GET", "/containers/{id}/logs", get_container_logs),
    Route("GET", "/containers/{id}/top", get_container_top),
    Route("DELETE", "/containers/{id}", delete_container),
)
