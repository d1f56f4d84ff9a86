"""Building and tearing down the kernel side of one network: bridge, rules, forwarding."""

from __future__ import annotations

import logging
from ipaddress import IPv4Address
from pathlib import Path

from services.netd import ipam, iptables, netlink
from services.netd.models import (
    BRIDGE,
    OPT_ENABLE_ICC,
    OPT_ENABLE_MASQUERADE,
    OPT_MTU,
    Network,
)
from services.netd.rules import Rule, network_rules
from services.netd.settings import NetSettings

log = logging.getLogger(__name__)

IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
CONF = Path("/proc/sys/net/ipv4/conf")


def option_bool(network: Network, key: str, default: bool = True) -> bool:
    value = network.options.get(key)
    return default if value is None else value.strip().lower() in ("1", "t", "true")


def rules_of(network: Network, settings: NetSettings) -> tuple[Rule, ...]:
    return network_rules(
        settings.chains, network,
        icc=option_bool(network, OPT_ENABLE_ICC),
        masquerade=option_bool(network, OPT_ENABLE_MASQUERADE),
    )


def _enable_forwarding() -> None:
    # dockerd does the same: without it nothing leaves a bridge network.
    try:
        if IP_FORWARD.read_text().strip() != "1":
            IP_FORWARD.write_text("1\n")
            log.info("enabled net.ipv4.ip_forward")
    except OSError as exc:
        log.warning("cannot enable net.ipv4.ip_forward", extra={"error": str(exc)})


async def apply(network: Network, settings: NetSettings) -> None:
    """Make the kernel match a bridge network's record; idempotent. Others need nothing."""
    pool = network.pool
    if network.driver != BRIDGE or pool is None:
        return
    mtu_text = network.options.get(OPT_MTU, "")
    await netlink.ensure_bridge(
        network.bridge_device,
        netlink.network_mark(settings.owner, network.id),
        IPv4Address(pool.gateway),
        ipam.v4_subnet(pool),
        int(mtu_text) if mtu_text.isdigit() and int(mtu_text) > 0 else None,
    )
    _allow_localnet(network.bridge_device)
    if settings.iptables:
        await iptables.add_rules(rules_of(network, settings))
    if settings.ip_forward and not network.internal:
        _enable_forwarding()


def _allow_localnet(bridge: str) -> None:
    # Published ports answer on 127.0.0.1 through DNAT in nat OUTPUT, with no
    # userland proxy: the rewritten packets keep a loopback source on their way
    # out of this bridge, which the kernel drops as martian unless
    # route_localnet is on — for this bridge only (dockerd does the same when
    # its userland proxy is off). The raw-table rule of each network drops what
    # containers could send to 127.0.0.0/8 in return.
    try:
        (CONF / bridge / "route_localnet").write_text("1\n")
    except OSError as exc:
        log.warning("cannot enable route_localnet", extra={"bridge": bridge, "error": str(exc)})


async def teardown(network: Network, settings: NetSettings) -> None:
    """Remove what :func:`apply` made (only links carrying this network's mark)."""
    if network.driver != BRIDGE:
        return
    if settings.iptables:
        await iptables.delete_rules(rules_of(network, settings))
    await netlink.delete_link(
        network.bridge_device, netlink.network_mark(settings.owner, network.id)
    )
