"""Facts about the host's networking that ``docker info`` reports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from services.netd.models import DRIVERS


@dataclass(frozen=True)
class NetworkInfo:
    drivers: tuple[str, ...]
    bridge_name: str
    ipv4_forwarding: bool
    iptables: bool
    bridge_nf_iptables: bool
    bridge_nf_ip6tables: bool


def sysctl_enabled(name: str, proc_sys: Path = Path("/proc/sys")) -> bool:
    """True when the sysctl ``name`` (dotted) reads 1; False when it is 0 or absent."""
    try:
        return (proc_sys / name.replace(".", "/")).read_text().strip() == "1"
    except OSError:
        return False


def read_network_info(iptables: bool, bridge_name: str) -> NetworkInfo:
    return NetworkInfo(
        drivers=DRIVERS,
        bridge_name=bridge_name,
        ipv4_forwarding=sysctl_enabled("net.ipv4.ip_forward"),
        iptables=iptables,
        bridge_nf_iptables=sysctl_enabled("net.bridge.bridge-nf-call-iptables"),
        bridge_nf_ip6tables=sysctl_enabled("net.bridge.bridge-nf-call-ip6tables"),
    )
