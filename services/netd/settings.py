"""netd's view of daemon.json: what its networks are built from."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from services.common.config import AddressPool, DaemonConfig
from services.netd.ipam import DEFAULT_POOLS
from services.netd.rules import Chains


@dataclass(frozen=True)
class NetSettings:
    bridge: str
    """Device of the default bridge network (daemon.json ``bridge``)."""
    chains: Chains
    iptables: bool
    ip_forward: bool
    """Turn on net.ipv4.ip_forward when a non-internal bridge network exists (dockerd's)."""
    ip_masq: bool
    """Masquerade the default bridge network (dockerd's ``ip-masq``)."""
    icc: bool
    """Inter-container traffic on the default bridge (dockerd's ``icc``)."""
    mtu: int
    bip: str
    pools: tuple[AddressPool, ...]

    @property
    def owner(self) -> str:
        """What marks this cluster's links: chain prefix and cluster tag."""
        return f"{self.chains.prefix}:{self.chains.cluster}"


def cluster_tag(data_root: str) -> str:
    """8 hex naming one cluster on this host, from its data-root (its etcd lives there).

    It goes into link marks and rule comments, so even two clusters configured
    with the same bridge and chain prefix (a benchmark's cluster beside the
    default one) never remove each other's links or rules as orphans.
    """
    return hashlib.sha256(data_root.encode()).hexdigest()[:8]


def _flag(config: DaemonConfig, key: str) -> bool:
    # dockerd keys Dockyard reads but the shared parser keeps in ``extra``.
    value = config.extra.get(key, True)
    return value if isinstance(value, bool) else True


def net_settings(config: DaemonConfig) -> NetSettings:
    mtu = config.extra.get("mtu", 1500)
    return NetSettings(
        bridge=config.bridge,
        chains=Chains(config.iptables_chain_prefix, cluster_tag(config.data_root)),
        iptables=config.iptables,
        ip_forward=_flag(config, "ip-forward"),
        ip_masq=_flag(config, "ip-masq"),
        icc=_flag(config, "icc"),
        mtu=mtu if isinstance(mtu, int) and mtu > 0 else 1500,
        bip=config.bip,
        pools=config.default_address_pools or DEFAULT_POOLS,
    )
