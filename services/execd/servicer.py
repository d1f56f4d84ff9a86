"""gRPC shell of execd: converts between protos and the domain modules."""

from __future__ import annotations

import json
from collections.abc import Sequence

import grpc

from dockyard.execd.v1 import execd_pb2, execd_pb2_grpc
from dockyard.types.v1 import types_pb2
from services.common.etcd_store import Store
from services.common.grpc_errors import Context
from services.common.grpc_server import ServiceContext
from services.execd.runtimes import ComponentVersion, OciRuntime, discover

RUNTIME_PREFIX = "runtime/"


def _version_pb(version: ComponentVersion) -> types_pb2.ComponentVersion:
    return types_pb2.ComponentVersion(
        name=version.name, version=version.version, details=dict(version.details)
    )


class RuntimeServicer(execd_pb2_grpc.RuntimeServicer):
    def __init__(
        self,
        store: Store,
        runtimes: Sequence[OciRuntime],
        default_runtime: str,
        monitor: ComponentVersion,
    ) -> None:
        self._store = store
        self._runtimes = [
            execd_pb2.OciRuntime(name=r.name, path=r.path, version=_version_pb(r.version))
            for r in runtimes
        ]
        self._default_runtime = default_runtime
        self._monitor = _version_pb(monitor)

    async def GetRuntimeInfo(
        self, request: execd_pb2.GetRuntimeInfoRequest, context: Context
    ) -> execd_pb2.GetRuntimeInfoResponse:
        counts = {"running": 0, "paused": 0, "stopped": 0}
        for entry in await self._store.get_prefix(RUNTIME_PREFIX):
            status = json.loads(entry.value).get("status", "")
            counts[status if status in ("running", "paused") else "stopped"] += 1
        return execd_pb2.GetRuntimeInfoResponse(
            runtimes=self._runtimes,
            default_runtime=self._default_runtime,
            monitor=self._monitor,
            containers_running=counts["running"],
            containers_paused=counts["paused"],
            containers_stopped=counts["stopped"],
        )


async def register(server: grpc.aio.Server, context: ServiceContext) -> Sequence[str]:
    runtimes, monitor = await discover(context.config.runtimes, context.config.default_runtime)
    execd_pb2_grpc.add_RuntimeServicer_to_server(
        RuntimeServicer(context.store, runtimes, context.config.default_runtime, monitor), server
    )
    return [execd_pb2.DESCRIPTOR.services_by_name["Runtime"].full_name]
