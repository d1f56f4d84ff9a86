"""NetworkSettings as a container has them before it first starts.

dockerd records at create the network the container will join (its
NetworkMode, plus the client's EndpointsConfig) with empty addresses; the
start path fills them from netd and the stop path empties them again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

BUILTIN_MODES = frozenset({"bridge", "host", "none", "default"})
"""Network modes that name no user-defined network."""

ENDPOINT_ZERO: dict[str, Any] = {
    "IPAMConfig": None, "Links": None, "Aliases": None, "MacAddress": "", "DriverOpts": None,
    "NetworkID": "", "EndpointID": "", "Gateway": "", "IPAddress": "", "IPPrefixLen": 0,
    "IPv6Gateway": "", "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0, "DNSNames": None,
}

SETTINGS_ZERO: dict[str, Any] = {
    "Bridge": "", "SandboxID": "", "SandboxKey": "", "Ports": {}, "HairpinMode": False,
    "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0, "SecondaryIPAddresses": None,
    "SecondaryIPv6Addresses": None, "EndpointID": "", "Gateway": "", "GlobalIPv6Address": "",
    "GlobalIPv6PrefixLen": 0, "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
    "MacAddress": "", "Networks": {},
}


def endpoint_settings(given: Mapping[str, Any], network_id: str = "") -> dict[str, Any]:
    out = {**ENDPOINT_ZERO, **{k: v for k, v in given.items() if k in ENDPOINT_ZERO}}
    if network_id:
        out["NetworkID"] = network_id
    return out


def initial_network_settings(
    network_mode: str, endpoints: Mapping[str, Any], network_ids: Mapping[str, str]
) -> dict[str, Any]:
    """``{"Networks": {...}}`` for a created container; nothing for ``container:`` mode."""
    networks: dict[str, Any] = {}
    if not network_mode.startswith("container:"):
        name = "bridge" if network_mode == "default" else network_mode
        networks[name] = endpoint_settings(endpoints.get(name) or {}, network_ids.get(name, ""))
    for name, settings in endpoints.items():
        networks[name] = endpoint_settings(settings or {}, network_ids.get(name, ""))
    return {"Networks": networks}
