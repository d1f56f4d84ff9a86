"""Typed client of execd: callers never touch protos."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import grpc

from dockyard.execd.v1 import execd_pb2, execd_pb2_grpc
from dockyard.types.v1 import types_pb2
from services.common.errors import Internal
from services.common.grpc_client import DEFAULT_TIMEOUT, call
from services.common.grpc_errors import error_from_rpc
from services.execd.models import ZERO_TIME, RuntimeState
from services.execd.runtimes import ComponentVersion, OciRuntime


@dataclass(frozen=True)
class RuntimeInfo:
    runtimes: tuple[OciRuntime, ...]
    default_runtime: str
    monitor: ComponentVersion
    containers_running: int
    containers_paused: int
    containers_stopped: int


def _version(pb: types_pb2.ComponentVersion) -> ComponentVersion:
    return ComponentVersion(name=pb.name, version=pb.version, details=dict(pb.details))


class RuntimeClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._stub = execd_pb2_grpc.RuntimeStub(channel)
        self._timeout = timeout

    async def get_runtime_info(self) -> RuntimeInfo:
        r: execd_pb2.GetRuntimeInfoResponse = await call(
            lambda: self._stub.GetRuntimeInfo(
                execd_pb2.GetRuntimeInfoRequest(), timeout=self._timeout
            )
        )
        return RuntimeInfo(
            runtimes=tuple(
                OciRuntime(name=rt.name, path=rt.path, version=_version(rt.version))
                for rt in r.runtimes
            ),
            default_runtime=r.default_runtime,
            monitor=_version(r.monitor),
            containers_running=r.containers_running,
            containers_paused=r.containers_paused,
            containers_stopped=r.containers_stopped,
        )


def state_from_pb(pb: execd_pb2.ContainerState) -> RuntimeState:
    return RuntimeState(
        container_id=pb.container_id, status=pb.status, pid=pb.pid, exit_code=pb.exit_code,
        error=pb.error, oom_killed=pb.oom_killed, started_at=pb.started_at or ZERO_TIME,
        finished_at=pb.finished_at or ZERO_TIME, restart_count=pb.restart_count,
        stopped_by_user=pb.stopped_by_user,
    )


@dataclass(frozen=True)
class ExecInfo:
    exec_id: str
    container_id: str
    running: bool
    exit_code: int | None
    pid: int
    config: dict[str, Any]
    open_stdin: bool
    open_stdout: bool
    open_stderr: bool
    can_remove: bool


class StdioStream:
    """A bidirectional attach or exec stream: send stdin, read output."""

    def __init__(self, call: Any, request_queue: asyncio.Queue[Any], make: Any) -> None:
        self._call = call
        self._queue = request_queue
        self._make = make
        self.tty = False

    async def send(self, data: bytes) -> None:
        await self._queue.put(self._make(data=data))

    async def close_stdin(self) -> None:
        await self._queue.put(self._make(close_stdin=True))

    async def resize(self, height: int, width: int) -> None:
        await self._queue.put(self._make(height=height, width=width))

    async def output(self) -> AsyncIterator[tuple[int, bytes]]:
        # read(), not iteration: the ready message was taken with read(), and
        # grpc.aio refuses to mix the two styles on one call.
        try:
            while (message := await self._call.read()) is not grpc.aio.EOF:
                if message.data:
                    yield message.stream, message.data
        except grpc.aio.AioRpcError as e:
            if e.code() != grpc.StatusCode.CANCELLED:
                raise error_from_rpc(e) from None

    def cancel(self) -> None:
        self._call.cancel()
        self._queue.put_nowait(None)


async def _requests(first: Any, queue: asyncio.Queue[Any]) -> AsyncIterator[Any]:
    yield first
    while (item := await queue.get()) is not None:
        yield item


async def _open_stdio(open_call: Any, first: Any, make: Any) -> StdioStream:
    """Open an Attach or StartExec stream and wait for execd's ready message."""
    queue: asyncio.Queue[Any] = asyncio.Queue()
    stream_call = open_call(_requests(first, queue))
    stream = StdioStream(stream_call, queue, make)
    try:
        ready = await stream_call.read()
    except grpc.aio.AioRpcError as e:
        raise error_from_rpc(e) from None
    if ready is grpc.aio.EOF:
        raise Internal("execd ended the stream before it was ready")
    stream.tty = bool(getattr(ready, "tty", False))
    return stream


class ContainersClient:
    """execd's container calls (the Runtime service, beside RuntimeClient's info call)."""

    def __init__(self, channel: grpc.aio.Channel, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._stub = execd_pb2_grpc.RuntimeStub(channel)
        self._timeout = timeout

    async def start_container(
        self, request: execd_pb2.StartContainerRequest
    ) -> RuntimeState:
        r: execd_pb2.StartContainerResponse = await call(
            lambda: self._stub.StartContainer(request, timeout=120.0))
        return state_from_pb(r.state)

    async def stop_container(
        self, container_id: str, signal: str = "", timeout_seconds: int | None = None,
        for_restart: bool = False,
    ) -> RuntimeState:
        request = execd_pb2.StopContainerRequest(
            container_id=container_id, signal=signal,
            timeout_seconds=timeout_seconds if timeout_seconds is not None else 0,
            has_timeout=timeout_seconds is not None, for_restart=for_restart,
        )
        r: execd_pb2.StopContainerResponse = await call(
            lambda: self._stub.StopContainer(request, timeout=None))
        return state_from_pb(r.state)

    async def kill_container(self, container_id: str, signal: str = "") -> None:
        request = execd_pb2.KillContainerRequest(container_id=container_id, signal=signal)
        await call(lambda: self._stub.KillContainer(request, timeout=self._timeout))

    async def record_start_error(self, container_id: str, error: str) -> RuntimeState:
        """Keep a start's failure in State (Error, ExitCode 128) as dockerd does."""
        request = execd_pb2.RecordStartErrorRequest(container_id=container_id, error=error)
        r: execd_pb2.RecordStartErrorResponse = await call(
            lambda: self._stub.RecordStartError(request, timeout=self._timeout))
        return state_from_pb(r.state)

    async def container_state(self, container_id: str) -> RuntimeState:
        request = execd_pb2.GetContainerStateRequest(container_id=container_id)
        r: execd_pb2.GetContainerStateResponse = await call(
            lambda: self._stub.GetContainerState(request, timeout=self._timeout))
        return state_from_pb(r.state)

    async def set_paused(self, container_id: str, paused: bool) -> RuntimeState:
        request = execd_pb2.SetPausedRequest(container_id=container_id, paused=paused)
        r: execd_pb2.SetPausedResponse = await call(
            lambda: self._stub.SetPaused(request, timeout=self._timeout))
        return state_from_pb(r.state)

    async def update_restart_policy(
        self, container_id: str, name: str, maximum_retry_count: int = 0
    ) -> None:
        """``docker update --restart``; NotFound when execd never started the container."""
        request = execd_pb2.UpdateRestartPolicyRequest(
            container_id=container_id, name=name, maximum_retry_count=maximum_retry_count)
        await call(lambda: self._stub.UpdateRestartPolicy(request, timeout=self._timeout))

    async def delete_container(self, container_id: str) -> None:
        request = execd_pb2.DeleteContainerRequest(container_id=container_id)
        await call(lambda: self._stub.DeleteContainer(request, timeout=self._timeout))

    async def read_logs(self, request: execd_pb2.ReadLogsRequest) -> AsyncIterator[LogLine]:
        stream = self._stub.ReadLogs(request)
        try:
            async for entry in stream:
                yield LogLine(entry.stream, entry.time_nanos, entry.data)
        except grpc.aio.AioRpcError as e:
            raise error_from_rpc(e) from None
        finally:
            stream.cancel()

    async def attach(
        self, container_id: str, *, stdin: bool, stdout: bool, stderr: bool
    ) -> StdioStream:
        """Registered once this returns: a start that follows loses no output."""
        first = execd_pb2.AttachRequest(
            container_id=container_id, stdin=stdin, stdout=stdout, stderr=stderr)
        return await _open_stdio(self._stub.Attach, first, execd_pb2.AttachRequest)

    async def resize_tty(self, container_id: str, height: int, width: int) -> None:
        request = execd_pb2.ResizeTTYRequest(container_id=container_id, height=height, width=width)
        await call(lambda: self._stub.ResizeTTY(request, timeout=self._timeout))

    async def create_exec(self, container_id: str, exec_config: dict[str, Any]) -> str:
        request = execd_pb2.CreateExecRequest(
            container_id=container_id, exec_config_json=json.dumps(exec_config))
        r: execd_pb2.CreateExecResponse = await call(
            lambda: self._stub.CreateExec(request, timeout=self._timeout))
        return r.exec_id

    async def start_exec(self, exec_id: str, detach: bool) -> StdioStream:
        first = execd_pb2.StartExecRequest(exec_id=exec_id, detach=detach)
        return await _open_stdio(self._stub.StartExec, first, execd_pb2.StartExecRequest)

    async def inspect_exec(self, exec_id: str) -> ExecInfo:
        request = execd_pb2.InspectExecRequest(exec_id=exec_id)
        r: execd_pb2.InspectExecResponse = await call(
            lambda: self._stub.InspectExec(request, timeout=self._timeout))
        return ExecInfo(
            exec_id=r.exec_id, container_id=r.container_id, running=r.running,
            exit_code=r.exit_code if r.has_exit_code else None, pid=r.pid,
            config=json.loads(r.exec_config_json or "{}"), open_stdin=r.open_stdin,
            open_stdout=r.open_stdout, open_stderr=r.open_stderr, can_remove=r.can_remove,
        )

    async def list_execs(self, container_id: str) -> list[str]:
        """IDs of the container's exec sessions that have not ended (inspect's ExecIDs)."""
        request = execd_pb2.ListExecsRequest(container_id=container_id)
        r: execd_pb2.ListExecsResponse = await call(
            lambda: self._stub.ListExecs(request, timeout=self._timeout))
        return list(r.exec_ids)

    async def remove_exec(self, exec_id: str) -> None:
        """Forget an ended exec session (Conflict while it still runs)."""
        request = execd_pb2.RemoveExecRequest(exec_id=exec_id)
        await call(lambda: self._stub.RemoveExec(request, timeout=self._timeout))

    async def kill_exec(self, exec_id: str, signal: str = "") -> None:
        """Signal a running exec session's process (SIGKILL by default)."""
        request = execd_pb2.KillExecRequest(exec_id=exec_id, signal=signal)
        await call(lambda: self._stub.KillExec(request, timeout=self._timeout))

    async def resize_exec(self, exec_id: str, height: int, width: int) -> None:
        request = execd_pb2.ResizeExecRequest(exec_id=exec_id, height=height, width=width)
        await call(lambda: self._stub.ResizeExec(request, timeout=self._timeout))

    async def list_processes(
        self, container_id: str, ps_args: str = ""
    ) -> tuple[list[str], list[list[str]]]:
        request = execd_pb2.ListProcessesRequest(container_id=container_id, ps_args=ps_args)
        r: execd_pb2.ListProcessesResponse = await call(
            lambda: self._stub.ListProcesses(request, timeout=self._timeout))
        return list(r.titles), [list(row.columns) for row in r.processes]


@dataclass(frozen=True)
class LogLine:
    stream: int
    time_nanos: int
    data: bytes
