"""gRPC shell of cgroupd: converts between protos and the domain modules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict

import grpc

from dockyard.cgroupd.v1 import cgroupd_pb2, cgroupd_pb2_grpc
from services.cgroupd.hostinfo import CgroupHostInfo, check_driver, detect
from services.common.grpc_errors import Context
from services.common.grpc_server import ServiceContext


class CgroupsServicer(cgroupd_pb2_grpc.CgroupsServicer):
    def __init__(self, host_info: CgroupHostInfo) -> None:
        self._host_info = cgroupd_pb2.GetHostInfoResponse(**asdict(host_info))

    async def GetHostInfo(
        self, request: cgroupd_pb2.GetHostInfoRequest, context: Context
    ) -> cgroupd_pb2.GetHostInfoResponse:
        return self._host_info


async def register(server: grpc.aio.Server, context: ServiceContext) -> Sequence[str]:
    driver = context.config.cgroup_driver
    check_driver(driver)
    # The hierarchy's shape is fixed for the life of the host; detect it once.
    host_info = detect(driver, context.config.cgroup_parent)
    cgroupd_pb2_grpc.add_CgroupsServicer_to_server(CgroupsServicer(host_info), server)
    return [cgroupd_pb2.DESCRIPTOR.services_by_name["Cgroups"].full_name]
