"""The iptables rules of bridge networks, as data (pure; :mod:`iptables` applies them).

All rules live in this cluster's own chains, named from daemon.json
``iptables-chain-prefix`` (``DOCKYARD`` by default), reached by one jump from
each built-in chain. The scheme follows dockerd's: a FORWARD chain with per
bridge accept/drop rules, a two-stage isolation between bridge networks, and
masquerading in nat POSTROUTING. Every rule carries a comment naming its owner
(``net:<id12>:<cluster tag>``, or ``base``) so reconcile can tell an orphan from a live rule
without parsing matches.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.netd.models import Network

FILTER = "filter"
NAT = "nat"
RAW = "raw"
BASE_TAG = "base"
LOCAL_DST = ("-m", "addrtype", "--dst-type", "LOCAL")


@dataclass(frozen=True)
class Chains:
    """The chain names of one cluster."""

    prefix: str
    cluster: str = ""
    """This cluster's tag (see settings.cluster_tag): two clusters configured with one
    prefix share chains, but each judges only the rules carrying its own tag."""

    @property
    def forward(self) -> str:
        return f"{self.prefix}-FORWARD"

    @property
    def isolation1(self) -> str:
        return f"{self.prefix}-ISOLATION-STAGE-1"

    @property
    def isolation2(self) -> str:
        return f"{self.prefix}-ISOLATION-STAGE-2"

    @property
    def postrouting(self) -> str:
        return f"{self.prefix}-POSTROUTING"

    @property
    def ports(self) -> str:
        """filter: lets published-port traffic through, ahead of the isolation stages."""
        return f"{self.prefix}-PORTS"

    @property
    def dnat(self) -> str:
        """nat: the DNAT of every published port, for packets to any local address."""
        return f"{self.prefix}-DNAT"

    @property
    def raw_prerouting(self) -> str:
        """raw: drops what a container sends to the host's loopback addresses."""
        return f"{self.prefix}-RAW-PREROUTING"

    def own(self) -> tuple[tuple[str, str], ...]:
        """(table, chain) of every chain the cluster makes."""
        return (
            (FILTER, self.forward), (FILTER, self.ports), (FILTER, self.isolation1),
            (FILTER, self.isolation2), (NAT, self.postrouting), (NAT, self.dnat),
            (RAW, self.raw_prerouting),
        )

    def jumps(self) -> tuple[tuple[str, str, tuple[str, ...]], ...]:
        """(table, built-in chain, rule arguments): the one jump into each own top chain."""
        return (
            (FILTER, "FORWARD", ("-j", self.forward)),
            (NAT, "POSTROUTING", ("-j", self.postrouting)),
            (NAT, "PREROUTING", (*LOCAL_DST, "-j", self.dnat)),
            # Locally made packets too: published ports answer on 127.0.0.1 and the
            # host's own addresses (route_localnet on the bridges, see bridges.py).
            (NAT, "OUTPUT", (*LOCAL_DST, "-j", self.dnat)),
            (RAW, "PREROUTING", ("-j", self.raw_prerouting)),
        )


@dataclass(frozen=True)
class Rule:
    """One rule: where it goes and its match/target arguments (comment included)."""

    table: str
    chain: str
    args: tuple[str, ...]
    tag: str


def network_tag(chains: Chains, network_id: str) -> str:
    return f"net:{network_id[:12]}:{chains.cluster}"


def sandbox_tag(chains: Chains, container_id: str) -> str:
    return f"ctr:{container_id[:12]}:{chains.cluster}"


def _rule(table: str, chain: str, tag: str, *args: str) -> Rule:
    # The comment goes before the target: iptables -S prints it there, and -C
    # compares argument order-insensitively only within one match.
    at = args.index("-j")
    matches, target = args[:at], args[at:]
    return Rule(table, chain, (*matches, "-m", "comment", "--comment", tag, *target), tag)


def base_rules(chains: Chains) -> tuple[Rule, ...]:
    """Rules not tied to a network, in their order at the head of their chain: FORWARD
    traffic first meets the published ports' accepts, then the isolation stages."""
    return (
        _rule(FILTER, chains.forward, BASE_TAG, "-j", chains.ports),
        _rule(FILTER, chains.forward, BASE_TAG, "-j", chains.isolation1),
    )


def network_rules(chains: Chains, network: Network, *, icc: bool, masquerade: bool) -> tuple[
    Rule, ...
]:
    """The rules of one bridge network, in the order they are appended."""
    pool = network.pool
    bridge = network.bridge_device
    if pool is None or not bridge:
        return ()
    tag = network_tag(chains, network.id)
    subnet = pool.subnet
    rules = []
    if network.internal:
        # No way in or out of the subnet: dockerd drops both directions in stage 1.
        rules += [
            _rule(FILTER, chains.isolation1, tag, "-i", bridge, "!", "-d", subnet, "-j", "DROP"),
            _rule(FILTER, chains.isolation1, tag, "!", "-s", subnet, "-o", bridge, "-j", "DROP"),
        ]
    else:
        rules += [
            _rule(FILTER, chains.isolation1, tag, "-i", bridge, "!", "-o", bridge,
                  "-j", chains.isolation2),
            _rule(FILTER, chains.isolation2, tag, "-o", bridge, "-j", "DROP"),
            _rule(FILTER, chains.forward, tag, "-o", bridge, "-m", "conntrack", "--ctstate",
                  "RELATED,ESTABLISHED", "-j", "ACCEPT"),
        ]
    rules.append(
        _rule(FILTER, chains.forward, tag, "-i", bridge, "-o", bridge,
              "-j", "ACCEPT" if icc else "DROP")
    )
    # route_localnet is on for the bridge (loopback-published ports): refuse what a
    # container crafts for the host's 127.0.0.0/8 (dockerd adds the same guard).
    rules.append(_rule(RAW, chains.raw_prerouting, tag, "-i", bridge, "-d", "127.0.0.0/8",
                       "-j", "DROP"))
    if not network.internal:
        rules.append(_rule(FILTER, chains.forward, tag, "-i", bridge, "!", "-o", bridge,
                           "-j", "ACCEPT"))
        if masquerade:
            rules.append(_rule(NAT, chains.postrouting, tag, "-s", subnet, "!", "-o", bridge,
                               "-j", "MASQUERADE"))
        # Published ports: connections from the host itself (127.0.0.1 or its own
        # addresses) and hairpin connections from the same bridge must come back
        # through the host, so their source becomes the gateway.
        rules += [
            _rule(NAT, chains.postrouting, tag, "-o", bridge, "-m", "addrtype",
                  "--src-type", "LOCAL", "-j", "MASQUERADE"),
            _rule(NAT, chains.postrouting, tag, "-s", subnet, "-o", bridge, "-m", "conntrack",
                  "--ctstate", "DNAT", "-j", "MASQUERADE"),
        ]
    return tuple(rules)


@dataclass(frozen=True)
class PublishedPort:
    """One binding as made: host side and the container address it leads to."""

    protocol: str
    host_ip: str
    host_port: int
    container_ip: str
    container_port: int
    bridge: str


def port_rules(chains: Chains, container_id: str, port: PublishedPort) -> tuple[Rule, ...]:
    """DNAT of a host port to a container, and the accepts that let it through the
    isolation stages (a published port is reachable from every network)."""
    tag = sandbox_tag(chains, container_id)
    proto = ("-p", port.protocol, "-m", port.protocol)
    dst = () if port.host_ip in ("", "0.0.0.0") else ("-d", f"{port.host_ip}/32")
    target = f"{port.container_ip}:{port.container_port}"
    container = f"{port.container_ip}/32"
    return (
        _rule(NAT, chains.dnat, tag, *dst, *proto, "--dport", str(port.host_port),
              "-j", "DNAT", "--to-destination", target),
        _rule(FILTER, chains.ports, tag, "-d", container, "-o", port.bridge, *proto,
              "--dport", str(port.container_port), "-m", "conntrack", "--ctstate", "DNAT",
              "-j", "ACCEPT"),
        _rule(FILTER, chains.ports, tag, "-s", container, "-i", port.bridge, *proto,
              "--sport", str(port.container_port), "-m", "conntrack", "--ctstate", "DNAT",
              "-j", "ACCEPT"),
    )
