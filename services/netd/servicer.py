"""gRPC shell of netd: converts between protos and the domain modules."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from dockyard.netd.v1 import netd_pb2, netd_pb2_grpc
from services.common.grpc_errors import Context
from services.common.grpc_server import ServiceContext
from services.common.owned_keys import OwnedKeys
from services.netd import convert, records
from services.netd.hostinfo import read_network_info
from services.netd.models import AttachedEndpoint
from services.netd.networks import NetworkManager
from services.netd.reconcile import reconcile
from services.netd.sandbox_records import SANDBOXES
from services.netd.sandboxes import SandboxManager
from services.netd.settings import net_settings

OWNED_PREFIXES = (records.NETWORKS, records.NAMES, records.IPAM, records.ENDPOINTS, SANDBOXES)
"""netd's keys, answered from its memory (services/common/owned_keys.py)."""


class NetworksServicer(netd_pb2_grpc.NetworksServicer):
    def __init__(self, manager: NetworkManager, sandboxes: SandboxManager) -> None:
        self._manager = manager
        self._sandboxes = sandboxes

    async def GetNetworkInfo(
        self, request: netd_pb2.GetNetworkInfoRequest, context: Context
    ) -> netd_pb2.GetNetworkInfoResponse:
        # Read each time: forwarding and bridge-nf are sysctls an admin may flip.
        settings = self._manager.settings
        info = read_network_info(settings.iptables, settings.bridge)
        return netd_pb2.GetNetworkInfoResponse(
            drivers=list(info.drivers),
            bridge_name=info.bridge_name,
            ipv4_forwarding=info.ipv4_forwarding,
            iptables=info.iptables,
            bridge_nf_iptables=info.bridge_nf_iptables,
            bridge_nf_ip6tables=info.bridge_nf_ip6tables,
        )

    async def CreateNetwork(
        self, request: netd_pb2.CreateNetworkRequest, context: Context
    ) -> netd_pb2.CreateNetworkResponse:
        network = await self._manager.create(convert.spec_from_proto(request))
        return netd_pb2.CreateNetworkResponse(network=convert.network_to_proto(network))

    async def InspectNetwork(
        self, request: netd_pb2.InspectNetworkRequest, context: Context
    ) -> netd_pb2.InspectNetworkResponse:
        network = await self._manager.inspect(request.ref)
        return netd_pb2.InspectNetworkResponse(network=convert.network_to_proto(network))

    async def ListNetworks(
        self, request: netd_pb2.ListNetworksRequest, context: Context
    ) -> netd_pb2.ListNetworksResponse:
        networks = await self._manager.list_networks(convert.filters_from_proto(request.filters))
        return netd_pb2.ListNetworksResponse(
            networks=[convert.network_to_proto(n) for n in networks]
        )

    async def RemoveNetwork(
        self, request: netd_pb2.RemoveNetworkRequest, context: Context
    ) -> netd_pb2.RemoveNetworkResponse:
        await self._manager.remove(request.ref)
        return netd_pb2.RemoveNetworkResponse()

    async def PruneNetworks(
        self, request: netd_pb2.PruneNetworksRequest, context: Context
    ) -> netd_pb2.PruneNetworksResponse:
        deleted = await self._manager.prune(convert.filters_from_proto(request.filters))
        return netd_pb2.PruneNetworksResponse(deleted=deleted)

    async def AllocateAddress(
        self, request: netd_pb2.AllocateAddressRequest, context: Context
    ) -> netd_pb2.AllocateAddressResponse:
        lease = await self._manager.allocate(request.network, request.owner, request.address)
        return convert.lease_to_proto(lease)

    async def ReleaseAddress(
        self, request: netd_pb2.ReleaseAddressRequest, context: Context
    ) -> netd_pb2.ReleaseAddressResponse:
        await self._manager.release(request.network, request.address)
        return netd_pb2.ReleaseAddressResponse()


    async def CreateSandbox(
        self, request: netd_pb2.CreateSandboxRequest, context: Context
    ) -> netd_pb2.CreateSandboxResponse:
        sandbox = await self._sandboxes.create(convert.sandbox_spec_from_proto(request.spec))
        return netd_pb2.CreateSandboxResponse(sandbox=convert.sandbox_to_proto(sandbox))

    async def GetSandbox(
        self, request: netd_pb2.GetSandboxRequest, context: Context
    ) -> netd_pb2.GetSandboxResponse:
        sandbox = await self._sandboxes.get(request.container_id)
        return netd_pb2.GetSandboxResponse(sandbox=convert.sandbox_to_proto(sandbox))

    async def RemoveSandbox(
        self, request: netd_pb2.RemoveSandboxRequest, context: Context
    ) -> netd_pb2.RemoveSandboxResponse:
        await self._sandboxes.remove(request.container_id)
        return netd_pb2.RemoveSandboxResponse()

    async def ConnectContainer(
        self, request: netd_pb2.ConnectContainerRequest, context: Context
    ) -> netd_pb2.ConnectContainerResponse:
        sandbox = await self._sandboxes.connect(
            request.container_id, convert.endpoint_request_from_proto(request.endpoint))
        return netd_pb2.ConnectContainerResponse(sandbox=convert.sandbox_to_proto(sandbox))

    async def DisconnectContainer(
        self, request: netd_pb2.DisconnectContainerRequest, context: Context
    ) -> netd_pb2.DisconnectContainerResponse:
        sandbox = await self._sandboxes.disconnect(request.container_id, request.network,
                                                   request.force)
        return netd_pb2.DisconnectContainerResponse(sandbox=convert.sandbox_to_proto(sandbox))

    async def GetSandboxStats(
        self, request: netd_pb2.GetSandboxStatsRequest, context: Context
    ) -> netd_pb2.GetSandboxStatsResponse:
        stats = await self._sandboxes.stats(request.container_id)
        return netd_pb2.GetSandboxStatsResponse(
            interfaces={name: convert.stats_to_proto(s) for name, s in stats.items()})

    async def RenameSandbox(
        self, request: netd_pb2.RenameSandboxRequest, context: Context
    ) -> netd_pb2.RenameSandboxResponse:
        sandbox = await self._sandboxes.rename(request.container_id, request.name)
        return netd_pb2.RenameSandboxResponse(sandbox=convert.sandbox_to_proto(sandbox))

    async def CheckEndpoint(
        self, request: netd_pb2.CheckEndpointRequest, context: Context
    ) -> netd_pb2.CheckEndpointResponse:
        joined = [await self._manager.resolve(ref) for ref in request.joined_networks]
        network = await self._sandboxes.check_endpoint(
            convert.endpoint_request_from_proto(request.endpoint),
            joined=[AttachedEndpoint(n.id, n.name, "", "", 0, "", "") for n in joined],
        )
        return netd_pb2.CheckEndpointResponse(network=convert.network_to_proto(network))


async def register(server: grpc.aio.Server, context: ServiceContext) -> Sequence[str]:
    store = OwnedKeys(context.store, OWNED_PREFIXES)
    manager = NetworkManager(store, net_settings(context.config))
    sandboxes = SandboxManager(manager, context.paths.exec_root)
    # Before serving: the kernel matches etcd and no orphan of ours is left.
    await reconcile(manager, sandboxes)
    netd_pb2_grpc.add_NetworksServicer_to_server(NetworksServicer(manager, sandboxes), server)
    return [netd_pb2.DESCRIPTOR.services_by_name["Networks"].full_name]
