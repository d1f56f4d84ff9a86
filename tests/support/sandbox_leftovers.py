"""What a test cluster may not leave behind: namespaces and veths of removed containers.

netd bind-mounts each container's network namespace at ``<exec-root>/netns/<id>``
and marks the host end of each veth with the alias
``dockyard:<chain prefix>:<cluster tag>:sb:<container id>``.
"""

from __future__ import annotations

import json
import subprocess
import time

from tests.support.cluster import Cluster


def sandbox_mark(cluster: Cluster) -> str:
    """The alias prefix of every link the cluster's netd made."""
    return f"dockyard:{cluster.daemon_json['iptables-chain-prefix']}:"


def marked_links(cluster: Cluster) -> dict[str, str]:
    """Host links carrying the cluster's mark: name → alias."""
    result = subprocess.run(["ip", "-j", "-d", "link", "show"], capture_output=True, text=True,
                            check=True)
    return {str(link["ifname"]): str(link.get("ifalias", ""))
            for link in json.loads(result.stdout or "[]")
            if str(link.get("ifalias", "")).startswith(sandbox_mark(cluster))}


def leftovers(cluster: Cluster) -> list[str]:
    """Namespace files and marked veths of containers that no longer exist."""
    listed = cluster.docker("ps", "-aq", "--no-trunc")
    assert listed.returncode == 0, listed.stderr
    alive = set(listed.stdout.split())
    netns = cluster.exec_root / "netns"
    found = [f"netns {p.name}" for p in (netns.iterdir() if netns.exists() else ())
             if p.name not in alive]
    for name, alias in marked_links(cluster).items():
        if ":sb:" in alias and alias.rpartition(":sb:")[2] not in alive:
            found.append(f"veth {name} ({alias})")
    return found


def wait_for_no_leftovers(cluster: Cluster, timeout: float = 10.0) -> list[str]:
    """:func:`leftovers`, after giving the kernel time to destroy released namespaces."""
    deadline = time.monotonic() + timeout
    while (left := leftovers(cluster)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left
