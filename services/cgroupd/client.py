"""Typed client of cgroupd: callers never touch protos."""

from __future__ import annotations

import grpc

from dockyard.cgroupd.v1 import cgroupd_pb2, cgroupd_pb2_grpc
from services.cgroupd.hostinfo import CgroupHostInfo
from services.common.grpc_client import DEFAULT_TIMEOUT, call


class CgroupsClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._stub = cgroupd_pb2_grpc.CgroupsStub(channel)
        self._timeout = timeout

    async def get_host_info(self) -> CgroupHostInfo:
        r: cgroupd_pb2.GetHostInfoResponse = await call(
            lambda: self._stub.GetHostInfo(cgroupd_pb2.GetHostInfoRequest(), timeout=self._timeout)
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
