"""Typed client of netd: callers never touch protos."""

from __future__ import annotations

import grpc

from dockyard.netd.v1 import netd_pb2, netd_pb2_grpc
from services.common.grpc_client import DEFAULT_TIMEOUT, call
from services.netd.hostinfo import NetworkInfo


class NetworksClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._stub = netd_pb2_grpc.NetworksStub(channel)
        self._timeout = timeout

    async def get_network_info(self) -> NetworkInfo:
        response: netd_pb2.GetNetworkInfoResponse = await call(
            lambda: self._stub.GetNetworkInfo(
                netd_pb2.GetNetworkInfoRequest(), timeout=self._timeout
            )
        )
        return NetworkInfo(
            drivers=tuple(response.drivers),
            bridge_name=response.bridge_name,
            ipv4_forwarding=response.ipv4_forwarding,
            iptables=response.iptables,
            bridge_nf_iptables=response.bridge_nf_iptables,
            bridge_nf_ip6tables=response.bridge_nf_ip6tables,
        )
