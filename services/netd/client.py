"""Typed client of netd: callers never touch protos."""

from __future__ import annotations

import grpc

from dockyard.netd.v1 import netd_pb2, netd_pb2_grpc
from services.common.grpc_client import DEFAULT_TIMEOUT, call
from services.netd import convert
from services.netd.hostinfo import NetworkInfo
from services.netd.models import (
    EndpointRequest,
    Filters,
    InterfaceStats,
    Lease,
    Network,
    NetworkSpec,
    Sandbox,
    SandboxSpec,
)

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

    # ---- sandboxes ----------------------------------------------------------------

    async def create_sandbox(self, spec: SandboxSpec) -> Sandbox:
        """Make a container's network; all or nothing (a failure undoes every step)."""
        request = netd_pb2.CreateSandboxRequest(spec=convert.sandbox_spec_to_proto(spec))
        response: netd_pb2.CreateSandboxResponse = await call(
            lambda: self._stub.CreateSandbox(request, timeout=max(self._timeout, CHANGE_TIMEOUT))
        )
        return convert.sandbox_from_proto(response.sandbox)

    async def get_sandbox(self, container_id: str) -> Sandbox:
        """The container's sandbox; NotFound when it has none."""
        request = netd_pb2.GetSandboxRequest(container_id=container_id)
        response: netd_pb2.GetSandboxResponse = await call(
            lambda: self._stub.GetSandbox(request, timeout=self._timeout)
        )
        return convert.sandbox_from_proto(response.sandbox)

    async def remove_sandbox(self, container_id: str) -> None:
        """Release everything of the sandbox; idempotent."""
        request = netd_pb2.RemoveSandboxRequest(container_id=container_id)
        await call(lambda: self._stub.RemoveSandbox(
            request, timeout=max(self._timeout, CHANGE_TIMEOUT)))

    async def connect_container(self, container_id: str, request: EndpointRequest) -> Sandbox:
        """Join a running container to one more network."""
        message = netd_pb2.ConnectContainerRequest(
            container_id=container_id, endpoint=convert.endpoint_request_to_proto(request))
        response: netd_pb2.ConnectContainerResponse = await call(
            lambda: self._stub.ConnectContainer(
                message, timeout=max(self._timeout, CHANGE_TIMEOUT))
        )
        return convert.sandbox_from_proto(response.sandbox)

    async def disconnect_container(self, container_id: str, network: str,
                                   force: bool = False) -> Sandbox:
        """Take a running container off one network."""
        message = netd_pb2.DisconnectContainerRequest(container_id=container_id,
                                                      network=network, force=force)
        response: netd_pb2.DisconnectContainerResponse = await call(
            lambda: self._stub.DisconnectContainer(
                message, timeout=max(self._timeout, CHANGE_TIMEOUT))
        )
        return convert.sandbox_from_proto(response.sandbox)

    async def rename_sandbox(self, container_id: str, name: str) -> Sandbox:
        """Tell netd a running container's new name (DNS and network inspect follow)."""
        request = netd_pb2.RenameSandboxRequest(container_id=container_id, name=name)
        response: netd_pb2.RenameSandboxResponse = await call(
            lambda: self._stub.RenameSandbox(request, timeout=self._timeout)
        )
        return convert.sandbox_from_proto(response.sandbox)

    async def sandbox_stats(self, container_id: str) -> dict[str, InterfaceStats]:
        """Counters per interface inside the container (eth0 ...)."""
        request = netd_pb2.GetSandboxStatsRequest(container_id=container_id)
        response: netd_pb2.GetSandboxStatsResponse = await call(
            lambda: self._stub.GetSandboxStats(request, timeout=self._timeout)
        )
        return {name: convert.stats_from_proto(s) for name, s in response.interfaces.items()}

    async def check_endpoint(self, request: EndpointRequest,
                             joined_networks: tuple[str, ...] = ()) -> Network:
        """Validate a join without reserving anything (``network connect`` of a stopped
        container); the network it would join."""
        message = netd_pb2.CheckEndpointRequest(
            endpoint=convert.endpoint_request_to_proto(request),
            joined_networks=list(joined_networks))
        response: netd_pb2.CheckEndpointResponse = await call(
            lambda: self._stub.CheckEndpoint(message, timeout=self._timeout)
        )
        return convert.network_from_proto(response.network)
