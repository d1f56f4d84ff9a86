"""Per-cluster network names for tests, and the teardown of what netd made for them.

Every test cluster gets its own default bridge device and iptables chain prefix
(daemon.json ``bridge`` and ``iptables-chain-prefix``), so clusters running side
by side, a Dockyard installed on the host and a Docker never share a device or a
chain. netd leaves its bridges in place when it stops (containers outlive it),
so the test teardown removes them: only links carrying the cluster's mark and
only chains named with its prefix.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shlex
import subprocess
from typing import Any

TABLES = ("filter", "nat", "raw")
BUILTIN_CHAINS = {
    "filter": ("FORWARD", "INPUT", "OUTPUT"),
    "nat": ("PREROUTING", "OUTPUT", "POSTROUTING"),
    "raw": ("PREROUTING", "OUTPUT"),
}


def unique_network_settings() -> dict[str, Any]:
    """daemon.json keys that give a test cluster names no other cluster uses."""
    tag = secrets.token_hex(3)
    return {"bridge": f"dy{tag}0", "iptables-chain-prefix": f"DYT{tag.upper()}"}


def _iptables(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["iptables", "-w", *args], capture_output=True, text=True, check=False)


def owned_links(prefix: str) -> list[str]:
    """Names of the links whose alias marks them as made by the cluster with ``prefix``."""
    result = subprocess.run(["ip", "-j", "-d", "link", "show"], capture_output=True, text=True,
                            check=False)
    mark = f"dockyard:{prefix}:"
    return [
        link["ifname"] for link in json.loads(result.stdout or "[]")
        if str(link.get("ifalias", "")).startswith(mark)
    ]


def own_chains(prefix: str) -> list[tuple[str, str]]:
    """(table, chain) of every chain on the host named with ``prefix``."""
    out = []
    for table in TABLES:
        for line in _iptables("-t", table, "-S").stdout.splitlines():
            words = line.split()
            if len(words) == 2 and words[0] == "-N" and words[1].startswith(prefix + "-"):
                out.append((table, words[1]))
    return out


def remove_cluster_network(prefix: str) -> None:
    """Delete the marked links and the chains (and their jumps) of one test cluster."""
    for name in owned_links(prefix):
        subprocess.run(["ip", "link", "del", name], capture_output=True, check=False)
    # The jumps into the cluster's chains (some carry matches, e.g. addrtype).
    for table, builtins in BUILTIN_CHAINS.items():
        for builtin in builtins:
            for line in _iptables("-t", table, "-S", builtin).stdout.splitlines():
                words = shlex.split(line)
                if words[:2] == ["-A", builtin] and words[-2:-1] == ["-j"] \
                        and words[-1].startswith(prefix + "-"):
                    _iptables("-t", table, "-D", builtin, *words[2:])
    for table, chain in own_chains(prefix):
        _iptables("-t", table, "-F", chain)
    for table, chain in own_chains(prefix):
        with contextlib.suppress(Exception):
            _iptables("-t", table, "-X", chain)
