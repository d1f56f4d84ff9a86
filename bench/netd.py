"""netd's endpoint set-up and teardown on the real kernel: ``python -m bench.netd``.

One sandbox set-up is what CreateSandbox does in the kernel: a namespace
bind-mounted on a file, a veth pair into a bridge (container end made in the
namespace as eth0 with its MAC), loopback up, address, default route, and —
in the "with a published port" variant — the DNAT and accept rules in one
iptables-restore run. Teardown, as RemoveSandbox's caller waits for it,
unmounts the namespace (the kernel then frees it and its veths by itself);
port rules are deleted afterwards in the background (measured apart: the
nf_tables backend costs ~10 ms per deleted rule). etcd writes
are excluded, as in bench/cgroups.py: they are etcd's latency, not netd's.
Everything runs under a private bridge, chain prefix and directory removed
afterwards. Targets: set-up ≤ 15 ms median, teardown ≤ 10 ms median. Needs root.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import tempfile
import time
from ipaddress import IPv4Network
from pathlib import Path

from bench.report import Row, render_table
from bench.stats import median
from services.common.config import AddressPool
from services.netd import ipam, iptables, netlink, nsfs, veth
from services.netd.rules import Chains, PublishedPort, Rule, port_rules
from services.netd.sandboxes import mac_for

ROUNDS = 50
CANDIDATES = (AddressPool(base="10.240.0.0/12", size=16),)


async def _setup(netns_dir: Path, bridge: str, subnet: IPv4Network, chains: Chains,
                 number: int, publish: bool) -> tuple[float, Path, list[Rule]]:
    cid = secrets.token_hex(32)
    path = netns_dir / cid
    address = str(subnet.network_address + 2 + number)
    plan = veth.Plug(bridge=bridge, host_name=veth.new_host_name(),
                     mark=veth.sandbox_mark(f"{chains.prefix}:{chains.cluster}", cid),
                     ifname="eth0", mac=mac_for(address), address=address,
                     prefixlen=subnet.prefixlen, mtu=None, isolated=False)
    rules: list[Rule] = []
    if publish:
        rules = list(port_rules(chains, cid, PublishedPort(
            "tcp", "127.0.0.1", 40000 + number, address, 80, bridge)))
    start = time.perf_counter()
    fd, sock = await nsfs.create(path)
    try:
        # As CreateSandbox does: the rules go in while the links are made.
        await asyncio.gather(
            veth.plug(fd, sock, plan, first=True, gateway=str(subnet.network_address + 1)),
            iptables.append_new_rules(rules),
        )
    finally:
        os.close(fd)
    return time.perf_counter() - start, path, rules


async def _teardown(path: Path, rules: list[Rule]) -> tuple[float, float]:
    """What RemoveSandbox's caller waits for (the namespace), then the rule deletion
    netd finishes in the background before it frees the ports and addresses."""
    start = time.perf_counter()
    await nsfs.remove(path)
    waited = time.perf_counter() - start
    start = time.perf_counter()
    await iptables.delete_rules_fast(rules)
    return waited, time.perf_counter() - start


def _cleanup(netns_dir: Path) -> list[Path]:
    return list(netns_dir.iterdir())


async def _measure() -> list[Row]:
    tag = secrets.token_hex(3)
    bridge, chains = f"dyb{tag}0", Chains(f"DYB{tag.upper()}", "bench")
    mark = netlink.network_mark(f"{chains.prefix}:{chains.cluster}", "bench")
    subnet = ipam.pick_subnet(CANDIDATES, await netlink.host_subnets())
    netns_dir = Path(tempfile.mkdtemp(prefix="dockyard-bench-netns-"))
    results: dict[bool, tuple[list[float], list[float], list[float]]] = {}
    await netlink.ensure_bridge(bridge, mark, ipam.first_host(subnet), subnet, None)
    try:
        await iptables.ensure_chains(chains)
        for publish in (False, True):
            setups, teardowns, background = [], [], []
            for number in range(ROUNDS):
                took, path, rules = await _setup(netns_dir, bridge, subnet, chains, number,
                                                 publish)
                setups.append(took)
                waited, later = await _teardown(path, rules)
                teardowns.append(waited)
                background.append(later)
            results[publish] = (setups, teardowns, background)
    finally:
        await iptables.remove_chains(chains)
        await netlink.delete_link(bridge, mark)
        for leftover in _cleanup(netns_dir):
            await nsfs.remove(leftover)
        await asyncio.to_thread(netns_dir.rmdir)
    rows = []
    for publish, label in ((False, ""), (True, ", with a published port")):
        setups, teardowns, background = results[publish]
        rows += [
            Row(f"endpoint set-up{label}, median", "ms", median(setups) * 1000),
            Row(f"endpoint teardown{label}, median", "ms", median(teardowns) * 1000),
        ]
        if publish:
            rows.append(Row("port rules removal (background, after teardown), median", "ms",
                            median(background) * 1000))
    return rows


def measure() -> list[Row]:
    """The measures as report rows (ms)."""
    return asyncio.run(_measure())


def main() -> int:
    if os.geteuid() != 0:
        print("bench.netd: needs root (namespaces, links, iptables)", file=sys.stderr)
        return 1
    print(render_table(measure()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
