"""Typed client of cgroupd: callers never touch protos."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc

from dockyard.cgroupd.v1 import cgroupd_pb2 as pb
from dockyard.cgroupd.v1 import cgroupd_pb2_grpc
from services.cgroupd import convert
from services.cgroupd.hostinfo import CgroupHostInfo
from services.cgroupd.manager import CgroupState, OOMEvent
from services.cgroupd.resources import Resources
from services.cgroupd.stats import StatsSample
from services.common.grpc_client import DEFAULT_TIMEOUT, call
from services.common.grpc_errors import error_from_rpc

STATS_TIMEOUT = DEFAULT_TIMEOUT + 1.0
"""A non-one-shot stats read waits 1 s between its two samples."""


class CgroupsClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._stub = cgroupd_pb2_grpc.CgroupsStub(channel)
        self._timeout = timeout

    async def get_host_info(self) -> CgroupHostInfo:
        r: pb.GetHostInfoResponse = await call(
            lambda: self._stub.GetHostInfo(pb.GetHostInfoRequest(), timeout=self._timeout)
        )
        return CgroupHostInfo(
            driver=r.driver,
            version=r.version,
            parent=r.parent,
            memory_limit=r.memory_limit,
            swap_limit=r.swap_limit,
            cpu_cfs_period=r.cpu_cfs_period,
            cpu_cfs_quota=r.cpu_cfs_quota,
            cpu_shares=r.cpu_shares,
            cpuset=r.cpuset,
            pids_limit=r.pids_limit,
            oom_kill_disable=r.oom_kill_disable,
            kernel_memory_tcp=r.kernel_memory_tcp,
        )

    async def create_cgroup(
        self, container_id: str, resources: Resources | None = None, *, name: str = "",
        cgroup_parent: str = "",
    ) -> CgroupState:
        """Make and limit a container's cgroup; ``warnings`` holds dockerd's warnings."""
        request = pb.CreateCgroupRequest(
            container_id=container_id, name=name, cgroup_parent=cgroup_parent,
            resources=convert.resources_to_pb(resources or Resources()),
        )
        r: pb.CreateCgroupResponse = await call(
            lambda: self._stub.CreateCgroup(request, timeout=self._timeout))
        return convert.state_from_pb(r.cgroup, tuple(r.warnings))

    async def update_resources(self, container_id: str, change: Resources) -> CgroupState:
        """``docker update``: fields left at zero/None keep their value."""
        request = pb.UpdateResourcesRequest(container_id=container_id,
                                            resources=convert.resources_to_pb(change))
        r: pb.UpdateResourcesResponse = await call(
            lambda: self._stub.UpdateResources(request, timeout=self._timeout))
        return convert.state_from_pb(r.cgroup, tuple(r.warnings))

    async def get_cgroup(self, container_id: str) -> CgroupState:
        r: pb.GetCgroupResponse = await call(lambda: self._stub.GetCgroup(
            pb.GetCgroupRequest(container_id=container_id), timeout=self._timeout))
        return convert.state_from_pb(r.cgroup)

    async def remove_cgroup(self, container_id: str) -> None:
        await call(lambda: self._stub.RemoveCgroup(
            pb.RemoveCgroupRequest(container_id=container_id), timeout=self._timeout))

    async def freeze(self, container_id: str, wait_seconds: float = 10.0) -> str:
        r: pb.FreezeCgroupResponse = await call(lambda: self._stub.FreezeCgroup(
            pb.FreezeCgroupRequest(container_id=container_id, timeout_seconds=wait_seconds),
            timeout=wait_seconds + self._timeout))
        return r.freeze_state

    async def thaw(self, container_id: str, wait_seconds: float = 10.0) -> str:
        r: pb.ThawCgroupResponse = await call(lambda: self._stub.ThawCgroup(
            pb.ThawCgroupRequest(container_id=container_id, timeout_seconds=wait_seconds),
            timeout=wait_seconds + self._timeout))
        return r.freeze_state

    async def get_stats(
        self, container_id: str, *, one_shot: bool = False
    ) -> tuple[StatsSample, StatsSample | None]:
        """(sample, previous); previous is 1 s older, or None when ``one_shot``."""
        r: pb.GetStatsResponse = await call(lambda: self._stub.GetStats(
            pb.GetStatsRequest(container_id=container_id, one_shot=one_shot),
            timeout=STATS_TIMEOUT))
        previous = convert.sample_from_pb(r.previous) if r.HasField("previous") else None
        return convert.sample_from_pb(r.sample), previous

    async def stream_stats(
        self, container_id: str
    ) -> AsyncIterator[tuple[StatsSample, StatsSample | None]]:
        """A sample a second with the one before it, until the caller stops iterating."""
        stream = self._stub.StreamStats(pb.StreamStatsRequest(container_id=container_id))
        try:
            async for r in stream:
                previous = convert.sample_from_pb(r.previous) if r.HasField("previous") else None
                yield convert.sample_from_pb(r.sample), previous
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from None
        finally:
            stream.cancel()

    async def watch_oom(self, container_id: str = "") -> AsyncIterator[OOMEvent]:
        """OOM kills as cgroupd notices them (all containers unless one is named)."""
        stream = self._stub.WatchOOM(pb.WatchOOMRequest(container_id=container_id))
        try:
            async for r in stream:
                yield convert.oom_from_pb(r)
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from None
        finally:
            stream.cancel()
