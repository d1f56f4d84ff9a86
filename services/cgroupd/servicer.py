"""gRPC shell of cgroupd: converts between protos and the domain modules."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import asdict
from pathlib import Path

import grpc

from dockyard.cgroupd.v1 import cgroupd_pb2 as pb
from dockyard.cgroupd.v1 import cgroupd_pb2_grpc
from services.cgroupd import convert
from services.cgroupd.driver import Driver
from services.cgroupd.hostinfo import CGROUP_ROOT, CgroupHostInfo, check_driver, detect
from services.cgroupd.manager import CgroupManager
from services.cgroupd.metrics import ContainerMetrics, figures
from services.cgroupd.records import PREFIX
from services.cgroupd.v1 import V1Driver, discover
from services.cgroupd.v2 import V2Driver
from services.common.grpc_errors import Context
from services.common.grpc_server import ServiceContext
from services.common.owned_keys import OwnedKeys

log = logging.getLogger(__name__)

OOM_POLL_SECONDS = 0.5
METRICS_SECONDS = 2.0


class CgroupsServicer(cgroupd_pb2_grpc.CgroupsServicer):
    def __init__(self, host_info: CgroupHostInfo, manager: CgroupManager) -> None:
        self._host_info = pb.GetHostInfoResponse(**asdict(host_info))
        self._manager = manager
        self.tasks: list[asyncio.Task[None]] = []

    async def GetHostInfo(
        self, request: pb.GetHostInfoRequest, context: Context
    ) -> pb.GetHostInfoResponse:
        return self._host_info

    async def CreateCgroup(
        self, request: pb.CreateCgroupRequest, context: Context
    ) -> pb.CreateCgroupResponse:
        state = await self._manager.create(
            request.container_id, request.name, request.cgroup_parent,
            convert.resources_from_pb(request.resources),
        )
        return pb.CreateCgroupResponse(cgroup=convert.state_to_pb(state),
                                       warnings=list(state.warnings))

    async def UpdateResources(
        self, request: pb.UpdateResourcesRequest, context: Context
    ) -> pb.UpdateResourcesResponse:
        state = await self._manager.update(
            request.container_id, convert.resources_from_pb(request.resources))
        return pb.UpdateResourcesResponse(cgroup=convert.state_to_pb(state),
                                          warnings=list(state.warnings))

    async def GetCgroup(
        self, request: pb.GetCgroupRequest, context: Context
    ) -> pb.GetCgroupResponse:
        state = await self._manager.get(request.container_id)
        return pb.GetCgroupResponse(cgroup=convert.state_to_pb(state))

    async def RemoveCgroup(
        self, request: pb.RemoveCgroupRequest, context: Context
    ) -> pb.RemoveCgroupResponse:
        await self._manager.remove(request.container_id)
        return pb.RemoveCgroupResponse()

    async def FreezeCgroup(
        self, request: pb.FreezeCgroupRequest, context: Context
    ) -> pb.FreezeCgroupResponse:
        state = await self._manager.set_frozen(request.container_id, True,
                                               request.timeout_seconds)
        return pb.FreezeCgroupResponse(freeze_state=state)

    async def ThawCgroup(
        self, request: pb.ThawCgroupRequest, context: Context
    ) -> pb.ThawCgroupResponse:
        state = await self._manager.set_frozen(request.container_id, False,
                                               request.timeout_seconds)
        return pb.ThawCgroupResponse(freeze_state=state)

    async def GetStats(self, request: pb.GetStatsRequest, context: Context) -> pb.GetStatsResponse:
        sample, previous = await self._manager.stats(request.container_id,
                                                     one_shot=request.one_shot)
        reply = pb.GetStatsResponse(sample=convert.sample_to_pb(sample))
        if previous is not None:
            reply.previous.CopyFrom(convert.sample_to_pb(previous))
        return reply

    async def StreamStats(
        self, request: pb.StreamStatsRequest, context: Context
    ) -> AsyncIterator[pb.StreamStatsResponse]:
        self._manager.record(request.container_id)  # NOT_FOUND before the first tick
        async for sample, previous in self._manager.stream_stats(request.container_id):
            reply = pb.StreamStatsResponse(sample=convert.sample_to_pb(sample))
            if previous is not None:
                reply.previous.CopyFrom(convert.sample_to_pb(previous))
            yield reply

    async def WatchOOM(
        self, request: pb.WatchOOMRequest, context: Context
    ) -> AsyncIterator[pb.WatchOOMResponse]:
        with self._manager.oom_events() as queue:
            while True:
                event = await queue.get()
                if request.container_id in ("", event.container_id):
                    yield convert.oom_to_pb(event)


def make_driver(version: str, root: Path = CGROUP_ROOT) -> Driver:
    if version == "2":
        return V2Driver(root)
    return V1Driver(discover(Path("/proc/self/mountinfo").read_text(), root))


async def _every(seconds: float, what: str, step: Callable[[], Awaitable[None]]) -> None:
    """Run ``step`` forever; a failing round is logged, not fatal."""
    while True:
        try:
            await step()
        except Exception:
            log.exception("%s failed", what)
        await asyncio.sleep(seconds)


def _metrics_step(
    manager: CgroupManager, sink: ContainerMetrics
) -> Callable[[], Awaitable[None]]:
    async def step() -> None:
        rows = []
        for record, sample in manager.sample_all():
            rows.append(figures(record.container_id, record.name, sample,
                                manager.driver.oom_kills(record.path)))
        sink.publish(rows)

    return step


async def register(server: grpc.aio.Server, context: ServiceContext) -> Sequence[str]:
    driver_name = context.config.cgroup_driver
    check_driver(driver_name)
    # The hierarchy's shape is fixed for the life of the host; detect it once.
    host_info = detect(driver_name, context.config.cgroup_parent)
    manager = CgroupManager(make_driver(host_info.version), OwnedKeys(context.store, [PREFIX]),
                            context.config.cgroup_parent)
    await manager.load()
    manager.cleanup_orphans()
    manager.guard_removals()
    sink = ContainerMetrics.from_environment()
    # Background loops live as long as the event loop (asyncio.run cancels them
    # at exit); the servicer keeps references so they are not collected.
    servicer = CgroupsServicer(host_info, manager)
    servicer.tasks = [
        asyncio.create_task(_every(OOM_POLL_SECONDS, "oom poll", manager.refresh_all_oom)),
        asyncio.create_task(_every(METRICS_SECONDS, "metrics", _metrics_step(manager, sink))),
    ]
    cgroupd_pb2_grpc.add_CgroupsServicer_to_server(servicer, server)
    return [pb.DESCRIPTOR.services_by_name["Cgroups"].full_name]
