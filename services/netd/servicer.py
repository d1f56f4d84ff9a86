"""gRPC shell of netd: converts between protos and the domain modules."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from dockyard.netd.v1 import netd_pb2, netd_pb2_grpc
from services.common.grpc_errors import Context
from services.common.grpc_server import ServiceContext
from services.netd.hostinfo import read_network_info


class NetworksServicer(netd_pb2_grpc.NetworksServicer):
    def __init__(self, iptables: bool) -> None:
        self._iptables = iptables

    async def GetNetworkInfo(
        self, request: netd_pb2.GetNetworkInfoRequest, context: Context
    ) -> netd_pb2.GetNetworkInfoResponse:
        # Read each time: forwarding and bridge-nf are sysctls an admin may flip.
        info = read_network_info(self._iptables)
        return netd_pb2.GetNetworkInfoResponse(
            drivers=list(info.drivers),
            bridge_name=info.bridge_name,
            ipv4_forwarding=info.ipv4_forwarding,
            iptables=info.iptables,
            bridge_nf_iptables=info.bridge_nf_iptables,
            bridge_nf_ip6tables=info.bridge_nf_ip6tables,
        )


async def register(server: grpc.aio.Server, context: ServiceContext) -> Sequence[str]:
    netd_pb2_grpc.add_NetworksServicer_to_server(
        NetworksServicer(context.config.iptables), server
    )
    return [netd_pb2.DESCRIPTOR.services_by_name["Networks"].full_name]
