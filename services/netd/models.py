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
