"""What netd keeps in etcd, and the JSON each record is stored as.

Keys (under ``/dockyard/v1/``); netd is their only writer:

``networks/<id>``
    a network: name, driver, pools, options, labels, its bridge device.
``network-names/<name>``
    name → ID, written with a create-if-absent transaction: two concurrent
    creates of one name cannot both succeed.
``ipam/<network id>/<address>``
    an address lease, written with create-if-absent: two endpoints never get
    one address. The value names the owner.
``endpoints/<network id>/<container id>``
    a container's attachment (name, endpoint ID, MAC, address), what network
    inspect shows. Keyed by network first so "does this network have
    endpoints" is one prefix read.
``sandboxes/<container id>``
    a container's sandbox: namespace, files, endpoints, ports (sandbox_records.py).

Every value is JSON in the versioned envelope of :mod:`services.common.records`.
"""

from __future__ import annotations

from services.common.records import dump_record, load_record
from services.netd.models import Endpoint, IpamConfig, Network

NETWORKS = "networks/"
NAMES = "network-names/"
IPAM = "ipam/"
ENDPOINTS = "endpoints/"


def network_key(network_id: str) -> str:
    return NETWORKS + network_id


def name_key(name: str) -> str:
    return NAMES + name


def lease_prefix(network_id: str) -> str:
    return f"{IPAM}{network_id}/"


def lease_key(network_id: str, address: str) -> str:
    return lease_prefix(network_id) + address


def endpoints_prefix(network_id: str) -> str:
    return f"{ENDPOINTS}{network_id}/"


def endpoint_key(network_id: str, container_id: str) -> str:
    return endpoints_prefix(network_id) + container_id




def dump_network(network: Network) -> bytes:
    return dump_record({
        "id": network.id,
        "name": network.name,
        "driver": network.driver,
        "created": network.created,
        "internal": network.internal,
        "attachable": network.attachable,
        "ingress": network.ingress,
        "enable_ipv6": network.enable_ipv6,
        "ipam_driver": network.ipam_driver,
        "ipam_options": dict(network.ipam_options),
        "ipam_config": [
            {"subnet": c.subnet, "gateway": c.gateway, "ip_range": c.ip_range,
             "aux_addresses": dict(c.aux_addresses)}
            for c in network.ipam_config
        ],
        "options": dict(network.options),
        "labels": dict(network.labels),
        "builtin": network.builtin,
        "bridge_device": network.bridge_device,
    })


def load_network(value: bytes) -> Network:
    data = load_record(value, "network")
    return Network(
        id=data["id"],
        name=data["name"],
        driver=data["driver"],
        created=data["created"],
        internal=data["internal"],
        attachable=data["attachable"],
        ingress=data["ingress"],
        enable_ipv6=data["enable_ipv6"],
        ipam_driver=data["ipam_driver"],
        ipam_options=data["ipam_options"],
        ipam_config=tuple(
            IpamConfig(subnet=c["subnet"], gateway=c["gateway"], ip_range=c["ip_range"],
                       aux_addresses=c["aux_addresses"])
            for c in data["ipam_config"]
        ),
        options=data["options"],
        labels=data["labels"],
        builtin=data["builtin"],
        bridge_device=data["bridge_device"],
    )


def dump_name(network_id: str) -> bytes:
    return dump_record({"id": network_id})


def load_name(value: bytes) -> str:
    network_id: str = load_record(value, "network name")["id"]
    return network_id


def dump_lease(owner: str) -> bytes:
    return dump_record({"owner": owner})


def dump_endpoint(endpoint: Endpoint) -> bytes:
    return dump_record({
        "container_id": endpoint.container_id,
        "name": endpoint.name,
        "endpoint_id": endpoint.endpoint_id,
        "mac_address": endpoint.mac_address,
        "ipv4_address": endpoint.ipv4_address,
        "ipv6_address": endpoint.ipv6_address,
    })


def load_endpoint(value: bytes) -> Endpoint:
    data = load_record(value, "endpoint")
    return Endpoint(
        container_id=data["container_id"],
        name=data["name"],
        endpoint_id=data["endpoint_id"],
        mac_address=data["mac_address"],
        ipv4_address=data["ipv4_address"],
        ipv6_address=data["ipv6_address"],
    )
