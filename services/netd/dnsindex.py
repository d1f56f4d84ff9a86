"""Who may resolve whom: the embedded DNS's view of the sandboxes, as pure data.

On user-defined networks a container resolves the DNS names (container name,
aliases, short ID, host name) of every endpoint on the networks it shares
with the asker, also as ``<name>.<network name>``. The default bridge has no
name resolution, as in Docker.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from services.netd.models import AttachedEndpoint, SandboxSpec

DEFAULT_BRIDGE = "bridge"


def dns_names(spec: SandboxSpec, aliases: Iterable[str], network_name: str) -> tuple[str, ...]:
    """DNSNames of an endpoint: empty on the default bridge."""
    if network_name == DEFAULT_BRIDGE:
        return ()
    names = [spec.container_name, *aliases, spec.container_id[:12]]
    if spec.hostname and spec.hostname not in names:
        names.append(spec.hostname)
    return tuple(dict.fromkeys(n for n in names if n))


@dataclass
class NameIndex:
    askers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Endpoint address → the user-defined network IDs of its container, in join order."""
    names: dict[str, dict[str, list[IPv4Address]]] = field(default_factory=dict)
    """Network ID → lower-case name (also "<name>.<network>") → addresses."""
    upstreams: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Endpoint address → the container's own ``--dns`` servers."""

    @classmethod
    def build(cls, sandboxes: Iterable[tuple[SandboxSpec, tuple[AttachedEndpoint, ...]]]
              ) -> NameIndex:
        index = cls()
        for spec, endpoints in sandboxes:
            user = tuple(e.network_id for e in endpoints if e.network_name != DEFAULT_BRIDGE)
            for endpoint in endpoints:
                index.askers[endpoint.ip_address] = user
                if spec.dns:
                    index.upstreams[endpoint.ip_address] = spec.dns
                table = index.names.setdefault(endpoint.network_id, {})
                for name in endpoint.dns_names:
                    for key in (name.lower(), f"{name}.{endpoint.network_name}".lower()):
                        table.setdefault(key, []).append(IPv4Address(endpoint.ip_address))
        return index

    def lookup(self, asker: str, name: str) -> list[IPv4Address] | None:
        """Addresses of ``name`` for ``asker``; None when it is not a name of a peer."""
        name = name.rstrip(".").lower()
        found: list[IPv4Address] = []
        for network_id in self.askers.get(asker, ()):
            for address in self.names.get(network_id, {}).get(name, ()):
                if address not in found:
                    found.append(address)
        return found or None
