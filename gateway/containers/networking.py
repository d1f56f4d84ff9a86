"""Between container records and netd: the sandbox to ask for, the settings to show.

:func:`sandbox_spec` reads Docker's HostConfig/NetworkingConfig of a record;
:func:`network_settings` renders netd's :class:`Sandbox` in the shape of
``NetworkSettings`` of ``docker inspect``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.containers.records import ContainerRecord
from services.common.errors import InvalidArgument
from services.netd.models import EndpointRequest, PortBinding, Sandbox, SandboxSpec

DEFAULT_NETWORK = "bridge"


def network_mode(record: ContainerRecord) -> str:
    mode = str(record.host_config.get("NetworkMode") or "default")
    return DEFAULT_NETWORK if mode == "default" else mode


def _port_key(key: str) -> tuple[int, str]:
    port, _, protocol = key.partition("/")
    try:
        number = int(port)
    except ValueError:
        raise InvalidArgument(f"invalid port specification: \"{key}\"") from None
    return number, (protocol or "tcp").lower()


def _host_port(text: str) -> tuple[int, int]:
    if not text:
        return 0, 0
    start, _, end = text.partition("-")
    try:
        return int(start), int(end) if end else 0
    except ValueError:
        raise InvalidArgument(f"invalid hostPort: {text}") from None


def port_bindings(host_config: Mapping[str, Any]) -> tuple[PortBinding, ...]:
    bindings: list[PortBinding] = []
    for key, entries in (host_config.get("PortBindings") or {}).items():
        port, protocol = _port_key(key)
        for entry in entries or [{}]:
            host_port, host_port_end = _host_port(str((entry or {}).get("HostPort") or ""))
            bindings.append(PortBinding(
                container_port=port, protocol=protocol,
                host_ip=str((entry or {}).get("HostIp") or ""),
                host_port=host_port, host_port_end=host_port_end,
            ))
    return tuple(bindings)


def initial_endpoints_config(mode: str, endpoints: Mapping[str, Any]) -> dict[str, Any]:
    """What create records as the networks to join: the client's EndpointsConfig, or
    the network the mode names when it sent none (as dockerd's create)."""
    mode = DEFAULT_NETWORK if mode in ("", "default") else mode
    if endpoints or mode in ("host", "none") or mode.startswith("container:"):
        return dict(endpoints)
    return {mode: {}}


def endpoints_config(record: ContainerRecord) -> dict[str, Any]:
    """The networks a container joins at start: network name → EndpointSettings.

    As dockerd's NetworkSettings.Networks: what create recorded, changed by
    ``docker network connect/disconnect``. Empty joins the network mode's
    network (netd's default).
    """
    return {DEFAULT_NETWORK if name == "default" else name: settings
            for name, settings in (record.networking_config or {}).items()}


def _endpoint_requests(record: ContainerRecord, mode: str) -> tuple[EndpointRequest, ...]:
    if mode in ("host", "none") or mode.startswith("container:"):
        return ()
    # Nothing recorded joins the mode's network, as netd would (--link rides on it).
    configured = endpoints_config(record) or {mode: {}}
    requests = []
    for name, settings in configured.items():
        settings = settings or {}
        ipam = settings.get("IPAMConfig") or {}
        aliases = tuple(settings.get("Aliases") or ())
        links = tuple(settings.get("Links") or ())
        if name == DEFAULT_NETWORK:
            links = tuple(record.host_config.get("Links") or ()) + links
        requests.append(EndpointRequest(
            network=name,
            ipv4_address=str(ipam.get("IPv4Address") or ""),
            aliases=aliases,
            mac_address=str(settings.get("MacAddress") or record.config.get("MacAddress") or ""),
            links=links,
        ))
    return tuple(requests)


def sandbox_spec(record: ContainerRecord, resolved_mode: str) -> SandboxSpec:
    """``resolved_mode`` is the network mode with ``container:<name>`` made a full ID."""
    config, host_config = record.config, record.host_config
    exposed = tuple(_port_key(k) for k in (config.get("ExposedPorts") or {}))
    return SandboxSpec(
        container_id=record.id,
        container_name=record.name.removeprefix("/"),
        hostname=str(config.get("Hostname") or record.id[:12]),
        domainname=str(config.get("Domainname") or ""),
        network_mode=resolved_mode,
        endpoints=_endpoint_requests(record, resolved_mode),
        port_bindings=port_bindings(host_config),
        exposed_ports=exposed,
        publish_all=bool(host_config.get("PublishAllPorts")),
        dns=tuple(host_config.get("Dns") or ()),
        dns_search=tuple(host_config.get("DnsSearch") or ()),
        dns_options=tuple(host_config.get("DnsOptions") or ()),
        extra_hosts=tuple(host_config.get("ExtraHosts") or ()),
    )


def _ports_view(record: ContainerRecord, sandbox: Sandbox | None) -> dict[str, Any]:
    ports: dict[str, Any] = {}
    if sandbox is None:
        return ports
    for key in record.config.get("ExposedPorts") or {}:
        port, protocol = _port_key(key)
        ports[f"{port}/{protocol}"] = None
    for binding in sandbox.ports:
        key = f"{binding.container_port}/{binding.protocol}"
        entries = ports.get(key) or []
        entries.append({"HostIp": binding.host_ip or "0.0.0.0", "HostPort": str(binding.host_port)})
        ports[key] = entries
    return ports


def endpoint_view(endpoint: Any, configured: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "IPAMConfig": configured.get("IPAMConfig"),
        "Links": list(endpoint.links) or None,
        "Aliases": list(endpoint.aliases) or None,
        "MacAddress": endpoint.mac_address,
        "DriverOpts": configured.get("DriverOpts"),
        "NetworkID": endpoint.network_id,
        "EndpointID": endpoint.endpoint_id,
        "Gateway": endpoint.gateway,
        "IPAddress": endpoint.ip_address,
        "IPPrefixLen": endpoint.ip_prefix_len,
        "IPv6Gateway": "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "DNSNames": list(endpoint.dns_names) or None,
    }


def network_settings(record: ContainerRecord, sandbox: Sandbox | None) -> dict[str, Any]:
    """Docker's NetworkSettings of a running container (``sandbox``) or a stopped one (None)."""
    configured = endpoints_config(record)
    networks: dict[str, Any] = {}
    primary: Any = None
    if sandbox is not None:
        for endpoint in sandbox.endpoints:
            networks[endpoint.network_name] = endpoint_view(
                endpoint, configured.get(endpoint.network_name) or {}
            )
            if endpoint.network_name == DEFAULT_NETWORK:
                primary = endpoint
    else:
        mode = network_mode(record)
        names = list(configured) or ([mode] if not mode.startswith("container:") else [])
        for name in names:
            settings = configured.get(name) or {}
            networks[name] = {
                "IPAMConfig": settings.get("IPAMConfig"), "Links": settings.get("Links"),
                "Aliases": settings.get("Aliases"), "MacAddress": "",
                "DriverOpts": settings.get("DriverOpts"), "NetworkID": "", "EndpointID": "",
                "Gateway": "", "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
                "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": None,
            }
    return {
        "Bridge": "",
        "SandboxID": record.id if sandbox is not None and sandbox.netns_path else "",
        "SandboxKey": (sandbox.sandbox_key or sandbox.netns_path) if sandbox is not None else "",
        "Ports": _ports_view(record, sandbox),
        "HairpinMode": False,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": None,
        "SecondaryIPv6Addresses": None,
        "EndpointID": primary.endpoint_id if primary else "",
        "Gateway": primary.gateway if primary else "",
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": primary.ip_address if primary else "",
        "IPPrefixLen": primary.ip_prefix_len if primary else 0,
        "IPv6Gateway": "",
        "MacAddress": primary.mac_address if primary else "",
        "Networks": networks,
    }
