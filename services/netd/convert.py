"""Proto ↔ domain conversions, shared by the servicer and the typed client."""

from __future__ import annotations

from collections.abc import Mapping

from dockyard.netd.v1 import netd_pb2
from services.netd.models import Endpoint, Filters, IpamConfig, Lease, Network, NetworkSpec


def ipam_to_proto(config: IpamConfig) -> netd_pb2.IpamConfig:
    return netd_pb2.IpamConfig(subnet=config.subnet, gateway=config.gateway,
                               ip_range=config.ip_range, aux_addresses=dict(config.aux_addresses))


def ipam_from_proto(msg: netd_pb2.IpamConfig) -> IpamConfig:
    return IpamConfig(subnet=msg.subnet, gateway=msg.gateway, ip_range=msg.ip_range,
                      aux_addresses=dict(msg.aux_addresses))


def network_to_proto(network: Network) -> netd_pb2.Network:
    return netd_pb2.Network(
        id=network.id, name=network.name, driver=network.driver, created=network.created,
        scope=network.scope, internal=network.internal, attachable=network.attachable,
        ingress=network.ingress, enable_ipv6=network.enable_ipv6,
        ipam_driver=network.ipam_driver, ipam_options=dict(network.ipam_options),
        ipam_config=[ipam_to_proto(c) for c in network.ipam_config],
        options=dict(network.options), labels=dict(network.labels), builtin=network.builtin,
        bridge_device=network.bridge_device,
        endpoints=[
            netd_pb2.Endpoint(container_id=e.container_id, name=e.name,
                              endpoint_id=e.endpoint_id, mac_address=e.mac_address,
                              ipv4_address=e.ipv4_address, ipv6_address=e.ipv6_address)
            for e in network.endpoints
        ],
    )


def network_from_proto(msg: netd_pb2.Network) -> Network:
    return Network(
        id=msg.id, name=msg.name, driver=msg.driver, created=msg.created, scope=msg.scope,
        internal=msg.internal, attachable=msg.attachable, ingress=msg.ingress,
        enable_ipv6=msg.enable_ipv6, ipam_driver=msg.ipam_driver,
        ipam_options=dict(msg.ipam_options),
        ipam_config=tuple(ipam_from_proto(c) for c in msg.ipam_config),
        options=dict(msg.options), labels=dict(msg.labels), builtin=msg.builtin,
        bridge_device=msg.bridge_device,
        endpoints=tuple(
            Endpoint(container_id=e.container_id, name=e.name, endpoint_id=e.endpoint_id,
                     mac_address=e.mac_address, ipv4_address=e.ipv4_address,
                     ipv6_address=e.ipv6_address)
            for e in msg.endpoints
        ),
    )


def spec_to_proto(spec: NetworkSpec) -> netd_pb2.CreateNetworkRequest:
    return netd_pb2.CreateNetworkRequest(
        name=spec.name, driver=spec.driver, internal=spec.internal,
        attachable=spec.attachable, ingress=spec.ingress, enable_ipv6=spec.enable_ipv6,
        ipam_driver=spec.ipam_driver, ipam_options=dict(spec.ipam_options),
        ipam_config=[ipam_to_proto(c) for c in spec.ipam_config],
        options=dict(spec.options), labels=dict(spec.labels),
    )


def spec_from_proto(msg: netd_pb2.CreateNetworkRequest) -> NetworkSpec:
    return NetworkSpec(
        name=msg.name, driver=msg.driver or "bridge", internal=msg.internal,
        attachable=msg.attachable, ingress=msg.ingress, enable_ipv6=msg.enable_ipv6,
        ipam_driver=msg.ipam_driver or "default", ipam_options=dict(msg.ipam_options),
        ipam_config=tuple(ipam_from_proto(c) for c in msg.ipam_config),
        options=dict(msg.options), labels=dict(msg.labels),
    )


def filters_to_proto(filters: Filters | None) -> dict[str, netd_pb2.FilterValues]:
    return {k: netd_pb2.FilterValues(values=list(v)) for k, v in (filters or {}).items()}


def filters_from_proto(msg: Mapping[str, netd_pb2.FilterValues]) -> Filters:
    return {k: tuple(v.values) for k, v in msg.items()}


def lease_to_proto(lease: Lease) -> netd_pb2.AllocateAddressResponse:
    return netd_pb2.AllocateAddressResponse(
        network_id=lease.network_id, address=lease.address,
        prefix_length=lease.prefix_length, gateway=lease.gateway,
    )


def lease_from_proto(msg: netd_pb2.AllocateAddressResponse) -> Lease:
    return Lease(network_id=msg.network_id, address=msg.address,
                 prefix_length=msg.prefix_length, gateway=msg.gateway)
