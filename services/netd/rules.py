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
BASE_TAG = "base"


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

    def own(self) -> tuple[tuple[str, str], ...]:
        """(table, chain) of every chain the cluster makes."""
        return (
            (FILTER, self.forward), (FILTER, self.isolation1), (FILTER, self.isolation2),
            (NAT, self.postrouting),
        )

    def jumps(self) -> tuple[tuple[str, str, str], ...]:
        """(table, built-in chain, own chain): the one jump into each own top chain."""
        return ((FILTER, "FORWARD", self.forward), (NAT, "POSTROUTING", self.postrouting))


@dataclass(frozen=True)
class Rule:
    """One rule: where it goes and its match/target arguments (comment included)."""

    table: str
    chain: str
    args: tuple[str, ...]
    tag: str


def network_tag(chains: Chains, network_id: str) -> str:
    return f"net:{network_id[:12]}:{chains.cluster}"


def _rule(table: str, chain: str, tag: str, *args: str) -> Rule:
    # The comment goes before the target: iptables -S prints it there, and -C
    # compares argument order-insensitively only within one match.
    *matches, jump, target = args
    return Rule(table, chain, (*matches, "-m", "comment", "--comment", tag, jump, target), tag)


def base_rules(chains: Chains) -> tuple[Rule, ...]:
    """Rules not tied to a network: FORWARD traffic first passes the isolation stage."""
    return (_rule(FILTER, chains.forward, BASE_TAG, "-j", chains.isolation1),)


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
    if not network.internal:
        rules.append(_rule(FILTER, chains.forward, tag, "-i", bridge, "!", "-o", bridge,
                           "-j", "ACCEPT"))
        if masquerade:
            rules.append(_rule(NAT, chains.postrouting, tag, "-s", subnet, "!", "-o", bridge,
                               "-j", "MASQUERADE"))
    return tuple(rules)
