"""Proto ↔ domain conversions, shared by the servicer and the typed client."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict

from dockyard.netd.v1 import netd_pb2
from services.netd.models import (
    AttachedEndpoint,
    Endpoint,
    EndpointRequest,
    Filters,
    InterfaceStats,
    IpamConfig,
    Lease,
    Network,
    NetworkSpec,
    PortBinding,
    Sandbox,
    SandboxSpec,
)


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


# ---- sandboxes ------------------------------------------------------------------------


def endpoint_request_to_proto(request: EndpointRequest) -> netd_pb2.EndpointRequest:
    return netd_pb2.EndpointRequest(
        network=request.network, ipv4_address=request.ipv4_address,
        aliases=list(request.aliases), mac_address=request.mac_address,
        links=list(request.links),
    )


def endpoint_request_from_proto(msg: netd_pb2.EndpointRequest) -> EndpointRequest:
    return EndpointRequest(network=msg.network, ipv4_address=msg.ipv4_address,
                           aliases=tuple(msg.aliases), mac_address=msg.mac_address,
                           links=tuple(msg.links))


def port_to_proto(port: PortBinding) -> netd_pb2.PortBinding:
    return netd_pb2.PortBinding(container_port=port.container_port, protocol=port.protocol,
                                host_ip=port.host_ip, host_port=port.host_port,
                                host_port_end=port.host_port_end)


def port_from_proto(msg: netd_pb2.PortBinding) -> PortBinding:
    return PortBinding(container_port=msg.container_port, protocol=msg.protocol or "tcp",
                       host_ip=msg.host_ip, host_port=msg.host_port,
                       host_port_end=msg.host_port_end)


def sandbox_spec_to_proto(spec: SandboxSpec) -> netd_pb2.SandboxSpec:
    return netd_pb2.SandboxSpec(
        container_id=spec.container_id, container_name=spec.container_name,
        hostname=spec.hostname, domainname=spec.domainname, network_mode=spec.network_mode,
        endpoints=[endpoint_request_to_proto(e) for e in spec.endpoints],
        port_bindings=[port_to_proto(p) for p in spec.port_bindings],
        exposed_ports=[netd_pb2.ExposedPort(port=p, protocol=proto)
                       for p, proto in spec.exposed_ports],
        publish_all=spec.publish_all, dns=list(spec.dns), dns_search=list(spec.dns_search),
        dns_options=list(spec.dns_options), extra_hosts=list(spec.extra_hosts),
    )


def sandbox_spec_from_proto(msg: netd_pb2.SandboxSpec) -> SandboxSpec:
    return SandboxSpec(
        container_id=msg.container_id, container_name=msg.container_name.lstrip("/"),
        hostname=msg.hostname, domainname=msg.domainname,
        network_mode=msg.network_mode or "bridge",
        endpoints=tuple(endpoint_request_from_proto(e) for e in msg.endpoints),
        port_bindings=tuple(port_from_proto(p) for p in msg.port_bindings),
        exposed_ports=tuple((p.port, p.protocol or "tcp") for p in msg.exposed_ports),
        publish_all=msg.publish_all, dns=tuple(msg.dns), dns_search=tuple(msg.dns_search),
        dns_options=tuple(msg.dns_options), extra_hosts=tuple(msg.extra_hosts),
    )


def attached_to_proto(e: AttachedEndpoint) -> netd_pb2.AttachedEndpoint:
    return netd_pb2.AttachedEndpoint(
        network_id=e.network_id, network_name=e.network_name, endpoint_id=e.endpoint_id,
        ip_address=e.ip_address, ip_prefix_len=e.ip_prefix_len, gateway=e.gateway,
        mac_address=e.mac_address, aliases=list(e.aliases), dns_names=list(e.dns_names),
        links=list(e.links), interface=e.interface, host_interface=e.host_interface,
    )


def attached_from_proto(m: netd_pb2.AttachedEndpoint) -> AttachedEndpoint:
    return AttachedEndpoint(
        network_id=m.network_id, network_name=m.network_name, endpoint_id=m.endpoint_id,
        ip_address=m.ip_address, ip_prefix_len=m.ip_prefix_len, gateway=m.gateway,
        mac_address=m.mac_address, aliases=tuple(m.aliases), dns_names=tuple(m.dns_names),
        links=tuple(m.links), interface=m.interface, host_interface=m.host_interface,
    )


def sandbox_to_proto(sandbox: Sandbox) -> netd_pb2.Sandbox:
    return netd_pb2.Sandbox(
        container_id=sandbox.container_id, netns_path=sandbox.netns_path,
        hosts_path=sandbox.hosts_path, hostname_path=sandbox.hostname_path,
        resolv_conf_path=sandbox.resolv_conf_path,
        endpoints=[attached_to_proto(e) for e in sandbox.endpoints],
        ports=[port_to_proto(p) for p in sandbox.ports], sandbox_key=sandbox.sandbox_key,
        network_mode=sandbox.network_mode,
    )


def sandbox_from_proto(msg: netd_pb2.Sandbox) -> Sandbox:
    return Sandbox(
        container_id=msg.container_id, netns_path=msg.netns_path, hosts_path=msg.hosts_path,
        hostname_path=msg.hostname_path, resolv_conf_path=msg.resolv_conf_path,
        endpoints=tuple(attached_from_proto(e) for e in msg.endpoints),
        ports=tuple(port_from_proto(p) for p in msg.ports), sandbox_key=msg.sandbox_key,
        network_mode=msg.network_mode,
    )


def stats_to_proto(stats: InterfaceStats) -> netd_pb2.InterfaceStats:
    return netd_pb2.InterfaceStats(**asdict(stats))


def stats_from_proto(msg: netd_pb2.InterfaceStats) -> InterfaceStats:
    return InterfaceStats(
        rx_bytes=msg.rx_bytes, rx_packets=msg.rx_packets, rx_errors=msg.rx_errors,
        rx_dropped=msg.rx_dropped, tx_bytes=msg.tx_bytes, tx_packets=msg.tx_packets,
        tx_errors=msg.tx_errors, tx_dropped=msg.tx_dropped,
    )
