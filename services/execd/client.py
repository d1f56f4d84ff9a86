"""Typed client of execd: callers never touch protos."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from dockyard.execd.v1 import execd_pb2, execd_pb2_grpc
from dockyard.types.v1 import types_pb2
from services.common.grpc_client import DEFAULT_TIMEOUT, call
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
