"""gRPC shell of execd: converts between protos and the domain modules."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import grpc

from dockyard.execd.v1 import execd_pb2, execd_pb2_grpc
from dockyard.types.v1 import types_pb2
from services.common.errors import InvalidArgument, NotFound
from services.common.grpc_errors import Context
from services.common.grpc_server import ServiceContext
from services.execd import attach, logfile, processes
from services.execd.execs import ExecSessions
from services.execd.layout import RuntimeLayout
from services.execd.logsize import parse_size
from services.execd.models import PAUSED, RESTARTING, RUNNING, RuntimeState
from services.execd.runc import Runc
from services.execd.runtimes import ComponentVersion, OciRuntime, discover, locate
from services.execd.signals import parse_signal
from services.execd.specbridge import DaemonSettings, inputs_from
from services.execd.startspec import StartSpec
from services.execd.supervisor import Supervisor


def _version_pb(version: ComponentVersion) -> types_pb2.ComponentVersion:
    return types_pb2.ComponentVersion(
        name=version.name, version=version.version, details=dict(version.details)
    )


def state_pb(state: RuntimeState) -> execd_pb2.ContainerState:
    return execd_pb2.ContainerState(
        container_id=state.container_id, status=state.status, pid=state.pid,
        exit_code=state.exit_code, error=state.error, oom_killed=state.oom_killed,
        started_at=state.started_at, finished_at=state.finished_at,
        restart_count=state.restart_count, stopped_by_user=state.stopped_by_user,
    )


def _json_object(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        raise InvalidArgument(f"{what} is not JSON") from None
    if not isinstance(value, dict):
        raise InvalidArgument(f"{what} must be a JSON object")
    return value


class RuntimeServicer(execd_pb2_grpc.RuntimeServicer):
    def __init__(
        self,
        supervisor: Supervisor,
        execs: ExecSessions,
        runtimes: Sequence[OciRuntime],
        default_runtime: str,
        monitor: ComponentVersion,
    ) -> None:
        self._sup = supervisor
        self._execs = execs
        self._runtimes = [
            execd_pb2.OciRuntime(name=r.name, path=r.path, version=_version_pb(r.version))
            for r in runtimes
        ]
        self._default_runtime = default_runtime
        self._monitor = _version_pb(monitor)
        self._background: set[asyncio.Task[None]] = set()

    async def GetRuntimeInfo(
        self, request: execd_pb2.GetRuntimeInfoRequest, context: Context
    ) -> execd_pb2.GetRuntimeInfoResponse:
        counts = {RUNNING: 0, PAUSED: 0, "stopped": 0}
        for state in self._sup.states():
            status = state.status if state.status in (RUNNING, PAUSED) else "stopped"
            if state.status == RESTARTING:
                status = RUNNING
            counts[status] += 1
        return execd_pb2.GetRuntimeInfoResponse(
            runtimes=self._runtimes,
            default_runtime=self._default_runtime,
            monitor=self._monitor,
            containers_running=counts[RUNNING],
            containers_paused=counts[PAUSED],
            containers_stopped=counts["stopped"],
        )

    # ---- lifecycle ---------------------------------------------------------------

    async def StartContainer(
        self, request: execd_pb2.StartContainerRequest, context: Context
    ) -> execd_pb2.StartContainerResponse:
        state = await self._sup.start(StartSpec.from_pb(request), request.reset_restart_count)
        return execd_pb2.StartContainerResponse(state=state_pb(state))

    async def StopContainer(
        self, request: execd_pb2.StopContainerRequest, context: Context
    ) -> execd_pb2.StopContainerResponse:
        grace = request.timeout_seconds if request.has_timeout else None
        state = await self._sup.stop(
            request.container_id, request.signal, grace, for_restart=request.for_restart
        )
        return execd_pb2.StopContainerResponse(state=state_pb(state))

    async def KillContainer(
        self, request: execd_pb2.KillContainerRequest, context: Context
    ) -> execd_pb2.KillContainerResponse:
        await self._sup.kill(request.container_id, request.signal)
        return execd_pb2.KillContainerResponse()

    async def RecordStartError(
        self, request: execd_pb2.RecordStartErrorRequest, context: Context
    ) -> execd_pb2.RecordStartErrorResponse:
        state = await self._sup.record_start_error(request.container_id, request.error)
        return execd_pb2.RecordStartErrorResponse(state=state_pb(state))

    async def GetContainerState(
        self, request: execd_pb2.GetContainerStateRequest, context: Context
    ) -> execd_pb2.GetContainerStateResponse:
        state = self._sup.state(request.container_id)
        return execd_pb2.GetContainerStateResponse(state=state_pb(state))

    async def SetPaused(
        self, request: execd_pb2.SetPausedRequest, context: Context
    ) -> execd_pb2.SetPausedResponse:
        state = await self._sup.set_paused(request.container_id, request.paused)
        return execd_pb2.SetPausedResponse(state=state_pb(state))

    async def UpdateRestartPolicy(
        self, request: execd_pb2.UpdateRestartPolicyRequest, context: Context
    ) -> execd_pb2.UpdateRestartPolicyResponse:
        await self._sup.update_restart_policy(
            request.container_id, request.name, request.maximum_retry_count)
        return execd_pb2.UpdateRestartPolicyResponse()

    async def DeleteContainer(
        self, request: execd_pb2.DeleteContainerRequest, context: Context
    ) -> execd_pb2.DeleteContainerResponse:
        await self._sup.delete(request.container_id)
        self._execs.forget_container(request.container_id)
        return execd_pb2.DeleteContainerResponse()

    # ---- logs ------------------------------------------------------------------------

    async def ReadLogs(
        self, request: execd_pb2.ReadLogsRequest, context: Context
    ) -> AsyncIterator[execd_pb2.ReadLogsResponse]:
        container_id = request.container_id
        query = logfile.LogQuery(
            stdout=request.stdout, stderr=request.stderr, since_nanos=request.since_nanos,
            until_nanos=request.until_nanos, tail=request.tail, follow=request.follow,
        )

        def still_running() -> bool:
            try:
                return self._sup.state(container_id).status in (RUNNING, PAUSED, RESTARTING)
            except NotFound:
                return False

        async for entry in logfile.read_log(self._sup.log_path(container_id), query, still_running):
            yield execd_pb2.ReadLogsResponse(
                stream=entry.stream, time_nanos=entry.time_nanos, data=entry.data
            )

    # ---- attach ------------------------------------------------------------------------

    async def Attach(
        self, request_iterator: AsyncIterable[execd_pb2.AttachRequest], context: Context
    ) -> AsyncIterator[execd_pb2.AttachResponse]:
        requests = aiter(request_iterator)
        first = await anext(requests, None)
        if first is None or not first.container_id:
            raise InvalidArgument("the first attach message must name the container")
        container_id = first.container_id
        future = await self._sup.attach(container_id)
        yield execd_pb2.AttachResponse(ready=True, tty=self._sup.has_tty(container_id))
        feeder = asyncio.ensure_future(self._feed_attach(container_id, future, requests, first))
        try:
            connection = await future
            while (item := await connection.read()) is not None:
                stream, data = item
                if (stream == attach.STDOUT and first.stdout) or (
                    stream == attach.STDERR and first.stderr
                ):
                    yield execd_pb2.AttachResponse(stream=stream, data=data)
        except (asyncio.CancelledError, Exception) as e:
            if isinstance(e, asyncio.CancelledError):
                raise
            if not isinstance(e, (ConnectionError, OSError)) and not future.done():
                raise
        finally:
            feeder.cancel()
            if not first.stdin and _connected(future) and self._sup.stdin_closes_on_any_leave(
                    container_id):
                self._park(future.result())
            else:
                self._sup.cancel_attach(container_id, future)

    def _park(self, connection: attach.AttachConnection) -> None:
        """Keep a leaving client's connection, drained, until conmon ends it.

        conmon closes a StdinOnce container's stdin when any attach
        connection ends; dockerd closes it only when the client that gave
        stdin ends it. So a client without stdin leaves its connection behind:
        it goes when the container's output ends.
        """

        async def drain() -> None:
            try:
                while await connection.read() is not None:
                    pass
            finally:
                connection.close()

        task = asyncio.ensure_future(drain())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _feed_attach(
        self,
        container_id: str,
        future: asyncio.Future[attach.AttachConnection],
        requests: AsyncIterator[execd_pb2.AttachRequest],
        first: execd_pb2.AttachRequest,
    ) -> None:
        with contextlib.suppress(Exception):
            connection = await future
            if not first.stdin:
                return
            async for request in requests:
                if request.data:
                    await connection.write(request.data)
                if request.height and request.width:
                    with contextlib.suppress(Exception):
                        attach.resize(self._sup.bundle(container_id), request.height, request.width)
                if request.close_stdin:
                    connection.close_stdin()
                    return
            connection.close_stdin()

    async def ResizeTTY(
        self, request: execd_pb2.ResizeTTYRequest, context: Context
    ) -> execd_pb2.ResizeTTYResponse:
        state = self._sup.state(request.container_id)
        if state.status not in (RUNNING, PAUSED):
            from services.common.errors import Conflict

            raise Conflict(f"Container {request.container_id} is not running")
        attach.resize(self._sup.bundle(request.container_id), request.height, request.width)
        return execd_pb2.ResizeTTYResponse()

    # ---- exec ------------------------------------------------------------------------

    async def CreateExec(
        self, request: execd_pb2.CreateExecRequest, context: Context
    ) -> execd_pb2.CreateExecResponse:
        config = _json_object(request.exec_config_json, "exec_config_json")
        session = self._execs.create(request.container_id, config)
        return execd_pb2.CreateExecResponse(exec_id=session.exec_id)

    async def StartExec(
        self, request_iterator: AsyncIterable[execd_pb2.StartExecRequest], context: Context
    ) -> AsyncIterator[execd_pb2.StartExecResponse]:
        requests = aiter(request_iterator)
        first = await anext(requests, None)
        if first is None or not first.exec_id:
            raise InvalidArgument("the first exec message must name the session")
        session = await self._execs.start(first.exec_id)
        yield execd_pb2.StartExecResponse(ready=True, tty=session.tty)
        if first.detach:
            task = asyncio.ensure_future(self._execs.wait_detached(session))
            self._background.add(task)
            task.add_done_callback(self._background.discard)
            # The stream lasts as long as the process, so the gateway learns
            # of its end (exec_die); a client that leaves cancels only this wait.
            with contextlib.suppress(Exception):
                await asyncio.shield(task)
            return
        feeder = asyncio.ensure_future(self._feed_exec(session, requests))
        try:
            async for stream, data in self._execs.output(session):
                yield execd_pb2.StartExecResponse(stream=stream, data=data)
            message = self._execs.failure_message(session)
            if message:
                data = (message + "\r\n").encode()
                yield execd_pb2.StartExecResponse(stream=attach.STDOUT, data=data)
        finally:
            feeder.cancel()
            # A client that went away mid-session takes its stdin with it (EOF),
            # as with dockerd; the process runs on (execs.py records its exit).
            if session.config.get("AttachStdin"):
                self._execs.close_stdin(session)

    async def _feed_exec(
        self, session: Any, requests: AsyncIterator[execd_pb2.StartExecRequest]
    ) -> None:
        with contextlib.suppress(Exception):
            async for request in requests:
                if request.data:
                    await self._execs.write_stdin(session, request.data)
                if request.height and request.width:
                    self._execs.resize(session.exec_id, request.height, request.width)
                if request.close_stdin:
                    self._execs.close_stdin(session)
            if session.config.get("AttachStdin"):
                self._execs.close_stdin(session)

    async def InspectExec(
        self, request: execd_pb2.InspectExecRequest, context: Context
    ) -> execd_pb2.InspectExecResponse:
        s = self._execs.get(request.exec_id)
        return execd_pb2.InspectExecResponse(
            exec_id=s.exec_id, container_id=s.container_id, running=s.running,
            exit_code=s.exit_code or 0, has_exit_code=s.exit_code is not None, pid=s.pid,
            exec_config_json=json.dumps(s.config),
            open_stdin=bool(s.config.get("AttachStdin")),
            open_stdout=bool(s.config.get("AttachStdout")),
            open_stderr=bool(s.config.get("AttachStderr")),
            can_remove=s.exit_code is not None,
        )

    async def ResizeExec(
        self, request: execd_pb2.ResizeExecRequest, context: Context
    ) -> execd_pb2.ResizeExecResponse:
        self._execs.resize(request.exec_id, request.height, request.width)
        return execd_pb2.ResizeExecResponse()

    async def ListExecs(
        self, request: execd_pb2.ListExecsRequest, context: Context
    ) -> execd_pb2.ListExecsResponse:
        return execd_pb2.ListExecsResponse(exec_ids=self._execs.pending(request.container_id))

    async def RemoveExec(
        self, request: execd_pb2.RemoveExecRequest, context: Context
    ) -> execd_pb2.RemoveExecResponse:
        self._execs.remove(request.exec_id)
        return execd_pb2.RemoveExecResponse()

    async def KillExec(
        self, request: execd_pb2.KillExecRequest, context: Context
    ) -> execd_pb2.KillExecResponse:
        self._execs.kill(request.exec_id, parse_signal(request.signal))
        return execd_pb2.KillExecResponse()

    async def ListProcesses(
        self, request: execd_pb2.ListProcessesRequest, context: Context
    ) -> execd_pb2.ListProcessesResponse:
        titles, rows = await processes.list_processes(
            self._sup.runc, request.container_id, request.ps_args
        )
        return execd_pb2.ListProcessesResponse(
            titles=titles, processes=[execd_pb2.ProcessRow(columns=row) for row in rows]
        )


def _connected(future: asyncio.Future[attach.AttachConnection]) -> bool:
    return future.done() and not future.cancelled() and future.exception() is None


async def register(server: grpc.aio.Server, context: ServiceContext) -> Sequence[str]:
    from services.execd.spec.build import build_exec_process, build_spec

    config = context.config
    runtimes, monitor = await discover(config.runtimes, config.default_runtime)
    runtime = next(r for r in runtimes if r.name == config.default_runtime)
    paths = RuntimeLayout(Path(config.data_root), Path(config.exec_root))
    runc = Runc(runtime.path, paths.runc_root)
    settings = DaemonSettings(config, init_path=_init_path(config))

    def spec_for(spec: StartSpec) -> dict[str, Any]:
        return build_spec(inputs_from(spec, settings))

    supervisor = Supervisor(
        context.store, paths, runc, locate("conmon"), spec_for,
        log_size_max=parse_size(config.log_opts.get("max-size", "")),
    )

    def exec_process(container_id: str, exec_config: dict[str, Any]) -> dict[str, Any]:
        spec = supervisor.saved_spec(container_id)
        if spec is None:
            raise NotFound(f"No such container: {container_id}")
        return build_exec_process(inputs_from(spec, settings), exec_config)

    execs = ExecSessions(runc, paths.exec_dir, supervisor.is_running, exec_process)
    await supervisor.recover()
    execd_pb2_grpc.add_RuntimeServicer_to_server(
        RuntimeServicer(supervisor, execs, runtimes, config.default_runtime, monitor), server
    )
    return [execd_pb2.DESCRIPTOR.services_by_name["Runtime"].full_name]


def _init_path(config: Any) -> str:
    """The init binary for --init; empty when missing (the spec builder then names it)."""
    from services.execd.spec.initbinary import locate_init_binary

    try:
        return locate_init_binary(str(config.extra.get("init-path", "") or ""))
    except Exception:
        return ""
