"""Typed client of netd: callers never touch protos."""

from __future__ import annotations

import grpc

from dockyard.netd.v1 import netd_pb2, netd_pb2_grpc
from services.common.grpc_client import DEFAULT_TIMEOUT, call
from services.netd import convert
from services.netd.hostinfo import NetworkInfo
from services.netd.models import Filters, Lease, Network, NetworkSpec

# Creating and removing a network runs iptables a few times: allow for a busy host.
CHANGE_TIMEOUT = 60.0


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

    async def create_network(self, spec: NetworkSpec) -> Network:
        response: netd_pb2.CreateNetworkResponse = await call(
            lambda: self._stub.CreateNetwork(convert.spec_to_proto(spec),
                                             timeout=max(self._timeout, CHANGE_TIMEOUT))
        )
        return convert.network_from_proto(response.network)

    async def inspect_network(self, ref: str) -> Network:
        response: netd_pb2.InspectNetworkResponse = await call(
            lambda: self._stub.InspectNetwork(netd_pb2.InspectNetworkRequest(ref=ref),
                                              timeout=self._timeout)
        )
        return convert.network_from_proto(response.network)

    async def list_networks(self, filters: Filters | None = None) -> list[Network]:
        request = netd_pb2.ListNetworksRequest(filters=convert.filters_to_proto(filters))
        response: netd_pb2.ListNetworksResponse = await call(
            lambda: self._stub.ListNetworks(request, timeout=self._timeout)
        )
        return [convert.network_from_proto(n) for n in response.networks]

    async def remove_network(self, ref: str) -> None:
        await call(
            lambda: self._stub.RemoveNetwork(netd_pb2.RemoveNetworkRequest(ref=ref),
                                             timeout=max(self._timeout, CHANGE_TIMEOUT))
        )

    async def prune_networks(self, filters: Filters | None = None) -> list[str]:
        request = netd_pb2.PruneNetworksRequest(filters=convert.filters_to_proto(filters))
        response: netd_pb2.PruneNetworksResponse = await call(
            lambda: self._stub.PruneNetworks(request, timeout=max(self._timeout, CHANGE_TIMEOUT))
        )
        return list(response.deleted)

    async def allocate_address(self, network: str, owner: str, address: str = "") -> Lease:
        request = netd_pb2.AllocateAddressRequest(network=network, owner=owner, address=address)
        response: netd_pb2.AllocateAddressResponse = await call(
            lambda: self._stub.AllocateAddress(request, timeout=self._timeout)
        )
        return convert.lease_from_proto(response)

    async def release_address(self, network: str, address: str) -> None:
        request = netd_pb2.ReleaseAddressRequest(network=network, address=address)
        await call(lambda: self._stub.ReleaseAddress(request, timeout=self._timeout))
