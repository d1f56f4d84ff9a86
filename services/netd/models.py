"""netd's domain values: networks, their pools, endpoints and address leases."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

Filters = Mapping[str, tuple[str, ...]]
"""Docker's filters: name → accepted values (a value matches if any does)."""

BRIDGE = "bridge"
HOST = "host"
NULL = "null"
DRIVERS = (BRIDGE, HOST, NULL)
"""The drivers netd implements ("null" is Docker's driver of the `none` network)."""

BUILTIN_NAMES = ("bridge", "host", "none")
"""Docker's pre-defined networks: created by netd itself, never removable."""

# Driver options of bridge networks, with dockerd's names.
OPT_BRIDGE_NAME = "com.docker.network.bridge.name"
OPT_ENABLE_ICC = "com.docker.network.bridge.enable_icc"
OPT_ENABLE_MASQUERADE = "com.docker.network.bridge.enable_ip_masquerade"
OPT_MTU = "com.docker.network.driver.mtu"
OPT_DEFAULT_BRIDGE = "com.docker.network.bridge.default_bridge"
OPT_HOST_BINDING = "com.docker.network.bridge.host_binding_ipv4"


@dataclass(frozen=True)
class IpamConfig:
    """One pool of a network: its subnet, gateway and optional ip-range (CIDR strings)."""

    subnet: str = ""
    gateway: str = ""
    ip_range: str = ""
    aux_addresses: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Endpoint:
    """A container attached to a network (filled in by the next slice: veth + netns)."""

    container_id: str
    name: str
    endpoint_id: str
    mac_address: str = ""
    ipv4_address: str = ""
    ipv6_address: str = ""


@dataclass(frozen=True)
class NetworkSpec:
    """What a client asks for when creating a network (Docker's NetworkCreateRequest)."""

    name: str
    driver: str = BRIDGE
    internal: bool = False
    attachable: bool = False
    ingress: bool = False
    enable_ipv6: bool = False
    ipam_driver: str = "default"
    ipam_options: Mapping[str, str] = field(default_factory=dict)
    ipam_config: tuple[IpamConfig, ...] = ()
    options: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Network:
    """A network as netd records it; ``endpoints`` is filled when read for inspect."""

    id: str
    name: str
    driver: str
    created: str
    """RFC 3339 with nanoseconds, UTC, as Go's time.RFC3339Nano prints it."""
    internal: bool = False
    attachable: bool = False
    ingress: bool = False
    enable_ipv6: bool = False
    ipam_driver: str = "default"
    ipam_options: Mapping[str, str] = field(default_factory=dict)
    ipam_config: tuple[IpamConfig, ...] = ()
    options: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    builtin: bool = False
    bridge_device: str = ""
    """The Linux bridge of a bridge network; empty for host and null."""
    endpoints: tuple[Endpoint, ...] = ()
    scope: str = "local"

    @property
    def pool(self) -> IpamConfig | None:
        """The network's (single, IPv4) pool; None for host and null networks."""
        return self.ipam_config[0] if self.ipam_config else None


@dataclass(frozen=True)
class Lease:
    """An address reserved on a network."""

    network_id: str
    address: str
    prefix_length: int
    gateway: str


# ---- sandboxes: a container's network namespace and what is in it -------------------

PROTOCOLS = ("tcp", "udp", "sctp")
EPHEMERAL_PORTS = (32768, 60999)
"""Where host ports are picked when a binding leaves them open (dockerd's range)."""


@dataclass(frozen=True)
class EndpointRequest:
    """One network a container joins."""

    network: str
    """Name, ID or ID prefix ("bridge", "host", "none" or a user network)."""
    ipv4_address: str = ""
    """``--ip``; empty allocates the next free address."""
    aliases: tuple[str, ...] = ()
    mac_address: str = ""
    """Empty generates one as dockerd did: 02:42 followed by the IPv4 address's bytes."""
    links: tuple[str, ...] = ()
    """``container_name:alias`` (``--link``, default bridge only)."""


@dataclass(frozen=True)
class PortBinding:
    container_port: int
    protocol: str = "tcp"
    host_ip: str = ""
    """Empty means every address (0.0.0.0)."""
    host_port: int = 0
    """0 picks a free port in 32768-60999."""
    host_port_end: int = 0
    """With ``host_port``: any free port of host_port..host_port_end (``-p 8000-8010:80``)."""


@dataclass(frozen=True)
class SandboxSpec:
    container_id: str
    container_name: str
    """Without the leading "/"."""
    hostname: str
    domainname: str = ""
    network_mode: str = "bridge"
    """"bridge" | "none" | "host" | "container:<64-hex id>" | a user network name."""
    endpoints: tuple[EndpointRequest, ...] = ()
    """The networks to join; empty for none/host/container: (and for "bridge": the default)."""
    port_bindings: tuple[PortBinding, ...] = ()
    exposed_ports: tuple[tuple[int, str], ...] = ()
    """(port, protocol) the image exposes: each gets a free host port with ``publish_all``."""
    publish_all: bool = False
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    extra_hosts: tuple[str, ...] = ()
    """``name:ip`` (``--add-host``); the IP ``host-gateway`` means the default bridge's gateway."""


@dataclass(frozen=True)
class AttachedEndpoint:
    """What NetworkSettings.Networks[<name>] shows for one joined network."""

    network_id: str
    network_name: str
    endpoint_id: str
    ip_address: str
    ip_prefix_len: int
    gateway: str
    mac_address: str
    aliases: tuple[str, ...] = ()
    dns_names: tuple[str, ...] = ()
    links: tuple[str, ...] = ()
    interface: str = ""
    """The device inside the namespace: eth0, eth1 ..."""
    host_interface: str = ""
    """The host end of the veth pair (``veth`` + 7 hex), in the network's bridge."""


@dataclass(frozen=True)
class Sandbox:
    container_id: str
    netns_path: str
    """The bind-mounted namespace file (<exec-root>/netns/<id>); empty in host mode."""
    hosts_path: str
    hostname_path: str
    resolv_conf_path: str
    endpoints: tuple[AttachedEndpoint, ...] = ()
    ports: tuple[PortBinding, ...] = ()
    """The bindings as made: host ports filled in, host_port_end 0."""
    sandbox_key: str = ""
    """NetworkSettings.SandboxKey (the namespace file)."""
    network_mode: str = "bridge"


@dataclass(frozen=True)
class InterfaceStats:
    """Counters of one interface as seen inside the container (Docker's stats "networks")."""

    rx_bytes: int = 0
    rx_packets: int = 0
    rx_errors: int = 0
    rx_dropped: int = 0
    tx_bytes: int = 0
    tx_packets: int = 0
    tx_errors: int = 0
    tx_dropped: int = 0
