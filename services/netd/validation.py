"""Checks on a create request before anything is reserved, with dockerd's wording."""

from __future__ import annotations

import ipaddress
import re

from services.common.errors import Forbidden, InvalidArgument, NotFound
from services.netd import ipam
from services.netd.models import (
    BRIDGE,
    BUILTIN_NAMES,
    DRIVERS,
    OPT_BRIDGE_NAME,
    OPT_ENABLE_ICC,
    OPT_ENABLE_MASQUERADE,
    OPT_MTU,
    NetworkSpec,
)

IPV6_UNSUPPORTED = "IPv6 networks are not supported by Dockyard yet: create an IPv4 network"
_IFNAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_BOOLS = ("1", "t", "true", "0", "f", "false")


def _plugin_not_found(name: str) -> NotFound:
    return NotFound(f"could not find plugin {name} in v1 plugin registry: plugin not found")


def _check_bool_option(spec: NetworkSpec, key: str) -> None:
    value = spec.options.get(key)
    if value is not None and value.strip().lower() not in _BOOLS:
        raise InvalidArgument(
            f'failed to parse {key} value: strconv.ParseBool: parsing "{value}": invalid syntax'
        )


def check_spec(spec: NetworkSpec) -> None:
    """Raise the error dockerd gives for a request it refuses before allocating anything."""
    if not spec.name.strip():
        raise InvalidArgument("invalid name: name is empty")
    if spec.name in BUILTIN_NAMES:
        raise Forbidden(f"operation is not permitted on predefined {spec.name} network")
    if spec.driver not in DRIVERS:
        raise _plugin_not_found(spec.driver)
    if spec.driver != BRIDGE:
        raise Forbidden(f'only one instance of "{spec.driver}" network is allowed')
    if spec.ipam_driver not in ("", "default"):
        raise _plugin_not_found(spec.ipam_driver)
    if spec.enable_ipv6:
        raise InvalidArgument(IPV6_UNSUPPORTED)
    for config in spec.ipam_config:
        try:
            if ipaddress.ip_network(config.subnet, strict=False).version == 6:
                raise InvalidArgument(IPV6_UNSUPPORTED)
        except ValueError:
            pass  # reported with dockerd's wording by check_configs
    ipam.check_configs(spec.ipam_config)
    if len(spec.ipam_config) > 1:
        raise InvalidArgument("bridge driver doesn't support multiple subnets")
    for key in (OPT_ENABLE_ICC, OPT_ENABLE_MASQUERADE):
        _check_bool_option(spec, key)
    mtu = spec.options.get(OPT_MTU)
    if mtu is not None and (not mtu.strip().isdigit() or not 68 <= int(mtu) <= 65535):
        raise InvalidArgument(f"invalid MTU number: {mtu}")
    name = spec.options.get(OPT_BRIDGE_NAME)
    if name is not None and not _IFNAME.match(name):
        raise InvalidArgument(f"invalid bridge name {name!r}: 1-15 letters, digits, _ . -")
