"""Networks as the Engine API shows them, and create bodies as netd takes them."""

from __future__ import annotations

from typing import Any

from services.common.errors import InvalidArgument
from services.netd.models import IpamConfig, Network, NetworkSpec


def _ipam_config_json(config: IpamConfig) -> dict[str, Any]:
    out: dict[str, Any] = {"Subnet": config.subnet, "Gateway": config.gateway}
    if config.ip_range:
        out["IPRange"] = config.ip_range
    if config.aux_addresses:
        out["AuxiliaryAddresses"] = dict(config.aux_addresses)
    return out


def network_json(network: Network, *, with_containers: bool = True) -> dict[str, Any]:
    """Docker's Network object; list responses leave ``Containers`` empty, as dockerd does."""
    containers = {
        e.container_id: {
            "Name": e.name, "EndpointID": e.endpoint_id, "MacAddress": e.mac_address,
            "IPv4Address": e.ipv4_address, "IPv6Address": e.ipv6_address,
        }
        for e in (network.endpoints if with_containers else ())
    }
    return {
        "Name": network.name,
        "Id": network.id,
        "Created": network.created,
        "Scope": network.scope,
        "Driver": network.driver,
        "EnableIPv6": network.enable_ipv6,
        "IPAM": {
            "Driver": network.ipam_driver,
            "Options": dict(network.ipam_options),
            "Config": [_ipam_config_json(c) for c in network.ipam_config],
        },
        "Internal": network.internal,
        "Attachable": network.attachable,
        "Ingress": network.ingress,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": containers,
        "Options": dict(network.options),
        "Labels": dict(network.labels),
    }


def _str_map(body: dict[str, Any], key: str) -> dict[str, str]:
    value = body.get(key) or {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidArgument(f"invalid {key}: expected an object of strings")
    return dict(value)


def _object(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key) or {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"invalid {key}: expected an object")
    return value


def _flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key) or False
    if not isinstance(value, bool):
        raise InvalidArgument(f"invalid {key}: expected true or false")
    return value


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key) or ""
    if not isinstance(value, str):
        raise InvalidArgument(f"invalid {key}: expected a string")
    return value


def _ipam_configs(ipam: dict[str, Any]) -> tuple[IpamConfig, ...]:
    configs = ipam.get("Config") or []
    if not isinstance(configs, list) or not all(isinstance(c, dict) for c in configs):
        raise InvalidArgument("invalid IPAM.Config: expected a list of objects")
    return tuple(
        IpamConfig(
            subnet=_text(c, "Subnet"), gateway=_text(c, "Gateway"),
            ip_range=_text(c, "IPRange"), aux_addresses=_str_map(c, "AuxiliaryAddresses"),
        )
        for c in configs
    )


def spec_from_body(body: Any) -> NetworkSpec:
    """A NetworkCreateRequest body as a :class:`NetworkSpec`; malformed fields are a 400."""
    if not isinstance(body, dict):
        raise InvalidArgument("invalid JSON: expected an object")
    if _flag(body, "ConfigOnly") or _text(_object(body, "ConfigFrom"), "Network"):
        raise InvalidArgument("config-only networks (--config-only, --config-from) are not "
                              "supported by Dockyard")
    scope = _text(body, "Scope")
    if scope not in ("", "local"):
        raise InvalidArgument(f"scope {scope!r} is not supported: Dockyard networks are local")
    ipam = _object(body, "IPAM")
    return NetworkSpec(
        name=_text(body, "Name"),
        driver=_text(body, "Driver") or "bridge",
        internal=_flag(body, "Internal"),
        attachable=_flag(body, "Attachable"),
        ingress=_flag(body, "Ingress"),
        enable_ipv6=_flag(body, "EnableIPv6"),
        ipam_driver=_text(ipam, "Driver") or "default",
        ipam_options=_str_map(ipam, "Options"),
        ipam_config=_ipam_configs(ipam),
        options=_str_map(body, "Options"),
        labels=_str_map(body, "Labels"),
    )
