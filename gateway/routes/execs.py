"""Exec routes: create a session in a running container, start it, inspect, resize."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from aiohttp import web

from gateway.containers.validation import console_size, validate_exec_start
from gateway.events import emit_container
from gateway.events.containers import (
    emit_for,
    exec_action,
    report_detached_exec_exit,
    report_exec_exit,
)
from gateway.events.exec_follows import detached_settled, note_detached
from gateway.responses import json_response
from gateway.routes.container_lifecycle import lifecycle_of, processes_of, pump_stdin, size_query
from gateway.routing import Route
from gateway.streams import stdcopy
from gateway.streams.detach import parse_detach_keys
from gateway.streams.hijack import MULTIPLEXED_STREAM, RAW_STREAM, Hijacked, hijack
from services.common.errors import Conflict, DockyardError, InvalidArgument
from services.execd.models import PAUSED, RUNNING


async def _json_body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = await request.json()
    except ValueError:
        raise InvalidArgument("invalid JSON in the request body") from None
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise InvalidArgument("the request body must be a JSON object")
    return body


async def post_container_exec(request: web.Request) -> web.Response:
    lifecycle = lifecycle_of(request)
    record = await lifecycle.records.get(request.match_info["id"])
    config = await _json_body(request)
    cmd = config.get("Cmd")
    if isinstance(cmd, str):
        config["Cmd"] = [cmd]
    if not config.get("Cmd"):
        raise InvalidArgument("No exec command specified")
    console_size(config, "ExecConfig")
    state = await lifecycle.state(record.id)
    if state.status == PAUSED:
        raise Conflict(f"Container {record.id} is paused, unpause the container before exec")
    if state.status != RUNNING:
        raise Conflict(f"container {record.id} is not running")
    parse_detach_keys(str(config.get("DetachKeys") or ""))
    exec_id = await processes_of(request).create_exec(record.id, config)
    emit_container(record, exec_action("exec_create", config), execID=exec_id)
    return json_response({"Id": exec_id}, status=201)


async def post_exec_start(request: web.Request) -> web.StreamResponse:
    processes = processes_of(request)
    exec_id = request.match_info["id"]
    body = await _json_body(request)
    validate_exec_start(body)
    info = await processes.inspect_exec(exec_id)
    if info.running or info.exit_code is not None:
        raise Conflict(f"Error: Exec command {exec_id} is already running")
    records = lifecycle_of(request).records
    started = exec_action("exec_start", info.config)
    await emit_for(records, info.container_id, started, execID=exec_id)
    if body.get("Detach"):
        # Noted first: a gateway restarted while it runs still reports its exec_die.
        await note_detached(exec_id, info.container_id)
        try:
            stream = await processes.start_exec(exec_id, True)
        except BaseException:
            await detached_settled(exec_id, True)
            raise
        report_detached_exec_exit(records, processes, exec_id, stream, detached_settled)
        return web.Response(status=200)
    tty = bool(info.config.get("Tty"))
    # The 101 goes out before the process starts, as with dockerd: clients read
    # the response head through a buffered reader (docker-py, then, takes the
    # raw socket), so output sent along with the head would be lost.
    connection = hijack(request, RAW_STREAM if tty else MULTIPLEXED_STREAM)
    try:
        stream = await processes.start_exec(exec_id, False)
    except DockyardError as e:
        # Too late for a status: dockerd writes the error into the stream.
        message = (e.message + "\r\n").encode()
        await connection.write(message if tty else stdcopy.frame(stdcopy.STDOUT, message))
        connection.close()
        return Hijacked()
    console = body.get("ConsoleSize")
    if tty and isinstance(console, list) and len(console) == 2 and all(console):
        # The connection is hijacked: an error raised now would leave it open
        # with no answer. A process already gone keeps no terminal to size.
        with contextlib.suppress(DockyardError):
            await stream.resize(int(console[0]), int(console[1]))
    detach_keys = parse_detach_keys(str(info.config.get("DetachKeys") or ""))
    try:
        detached = asyncio.Event()
        pump = None
        if info.open_stdin:
            pump = asyncio.ensure_future(
                pump_stdin(connection, stream.send, stream.close_stdin, detach_keys, detached)
            )

        async def relay() -> None:
            async for stream_id, data in stream.output():
                if (stream_id == stdcopy.STDOUT and not info.open_stdout) or (
                    stream_id == stdcopy.STDERR and not info.open_stderr
                ):
                    continue
                await connection.write(data if tty else stdcopy.frame(stream_id, data))

        output = asyncio.ensure_future(relay())
        waiters = {output, asyncio.ensure_future(detached.wait()),
                   asyncio.ensure_future(connection.closed.wait())}
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        if pump is not None:
            pump.cancel()
        if not output.done():
            stream.cancel()
        with contextlib.suppress(BaseException):
            await output
        report_exec_exit(records, processes, exec_id)
    finally:
        connection.close()
    return Hijacked()


async def get_exec_json(request: web.Request) -> web.Response:
    info = await processes_of(request).inspect_exec(request.match_info["id"])
    cmd = [str(c) for c in info.config.get("Cmd") or []]
    return json_response({
        "CanRemove": info.can_remove,
        "ContainerID": info.container_id,
        "DetachKeys": str(info.config.get("DetachKeys") or ""),
        "ExitCode": info.exit_code,
        "ID": info.exec_id,
        "OpenStderr": info.open_stderr,
        "OpenStdin": info.open_stdin,
        "OpenStdout": info.open_stdout,
        "ProcessConfig": {
            "arguments": cmd[1:],
            "entrypoint": cmd[0] if cmd else "",
            "privileged": bool(info.config.get("Privileged")),
            "tty": bool(info.config.get("Tty")),
            "user": str(info.config.get("User") or ""),
        },
        "Running": info.running,
        "Pid": info.pid,
    })


async def post_exec_resize(request: web.Request) -> web.Response:
    height, width = size_query(request)
    await processes_of(request).resize_exec(request.match_info["id"], height, width)
    return web.Response(status=200)


ROUTES = (
    Route("POST", "/containers/{id}/exec", post_container_exec),
    Route("POST", "/exec/{id}/start", post_exec_start),
    Route("POST", "/exec/{id}/resize", post_exec_resize),
    Route("GET", "/exec/{id}/json", get_exec_json),
)
