"""How a sandbox is kept in etcd: ``sandboxes/<container id>`` (netd is the only writer).

The record holds the spec the sandbox was made from (host name, DNS settings,
extra hosts: what the files are rendered from again on connect/disconnect)
and the sandbox as made (namespace, files, endpoints with their veths, ports).
Each endpoint also has its ``endpoints/<network id>/<container id>`` record
(records.py), which is what network inspect and "network has active
endpoints" read.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from services.common.records import dump_record, load_record
from services.netd.models import (
    AttachedEndpoint,
    EndpointRequest,
    PortBinding,
    Sandbox,
    SandboxSpec,
)

SANDBOXES = "sandboxes/"
LEASE_OWNER_PREFIX = "sandbox:"


def sandbox_key(container_id: str) -> str:
    return SANDBOXES + container_id


def lease_owner(container_id: str) -> str:
    """The owner written on a sandbox's address leases (reconcile frees orphans by it)."""
    return LEASE_OWNER_PREFIX + container_id


@dataclass(frozen=True)
class SandboxRecord:
    spec: SandboxSpec
    sandbox: Sandbox


def dump(record: SandboxRecord) -> bytes:
    return dump_record({"spec": asdict(record.spec), "sandbox": asdict(record.sandbox)})


def _spec(data: dict[str, Any]) -> SandboxSpec:
    return SandboxSpec(
        container_id=data["container_id"], container_name=data["container_name"],
        hostname=data["hostname"], domainname=data["domainname"],
        network_mode=data["network_mode"],
        endpoints=tuple(
            EndpointRequest(network=e["network"], ipv4_address=e["ipv4_address"],
                            aliases=tuple(e["aliases"]), mac_address=e["mac_address"],
                            links=tuple(e["links"]))
            for e in data["endpoints"]
        ),
        port_bindings=tuple(PortBinding(**p) for p in data["port_bindings"]),
        exposed_ports=tuple((int(p), str(proto)) for p, proto in data["exposed_ports"]),
        publish_all=data["publish_all"], dns=tuple(data["dns"]),
        dns_search=tuple(data["dns_search"]), dns_options=tuple(data["dns_options"]),
        extra_hosts=tuple(data["extra_hosts"]),
    )


def _endpoint(data: dict[str, Any]) -> AttachedEndpoint:
    return AttachedEndpoint(**{
        **data, "aliases": tuple(data["aliases"]), "dns_names": tuple(data["dns_names"]),
        "links": tuple(data["links"]),
    })


def load(value: bytes) -> SandboxRecord:
    data = load_record(value, "sandbox")
    box = data["sandbox"]
    sandbox = Sandbox(
        container_id=box["container_id"], netns_path=box["netns_path"],
        hosts_path=box["hosts_path"], hostname_path=box["hostname_path"],
        resolv_conf_path=box["resolv_conf_path"],
        endpoints=tuple(_endpoint(e) for e in box["endpoints"]),
        ports=tuple(PortBinding(**p) for p in box["ports"]),
        sandbox_key=box["sandbox_key"], network_mode=box["network_mode"],
    )
    return SandboxRecord(_spec(data["spec"]), sandbox)
