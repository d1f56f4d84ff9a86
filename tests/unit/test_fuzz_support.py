"""The fuzz's own safety and case building (tests/support/fuzz_cases.py, type_sweep.py)."""

from __future__ import annotations

import ipaddress

import pytest

from tests.support.fuzz_cases import SAFE_SUPERNET, safe_address
from tests.support.type_sweep import body_schema, fields, load_spec, replaced
from tests.unit.spec_schema import SPEC


@pytest.mark.parametrize("value", ["192.0.2.0/24", "10.0.0.0/8", "0.0.0.0/0", "127.0.0.1/32",
                                   "192.0.2.1", "172.17.0.0/16"])
def test_valid_ipv4_values_land_in_the_benchmark_range(value: str) -> None:
    # A fuzzed bridge must never take the host's own subnet (192.0.2.0/24 here).
    moved = safe_address(value)
    network = ipaddress.ip_network(moved, strict=False)
    assert isinstance(network, ipaddress.IPv4Network)
    assert network.subnet_of(SAFE_SUPERNET)
    assert network.prefixlen >= 24


def test_a_gateway_stays_inside_its_subnet() -> None:
    subnet = ipaddress.ip_network(safe_address("10.1.2.0/24"))
    assert ipaddress.ip_address(safe_address("10.1.2.1")) in subnet


@pytest.mark.parametrize("value", ["", "not-an-ip", "10.0.0.0/33", "fd00::/64", 5])
def test_other_values_are_left_for_the_gateway_to_refuse(value: object) -> None:
    assert safe_address(value) == value


def test_replaced_sets_a_deep_field_and_leaves_the_base_alone() -> None:
    base = {"Image": "busybox", "HostConfig": {"Memory": 0}}
    body = replaced(base, ("HostConfig", "LogConfig", "Config"), 5)
    assert body == {"Image": "busybox",
                    "HostConfig": {"Memory": 0, "LogConfig": {"Config": 5}}}
    assert base == {"Image": "busybox", "HostConfig": {"Memory": 0}}
    assert replaced({}, ("Mounts", 0, "Target"), 1) == {"Mounts": [{"Target": 1}]}


def test_fields_reach_nested_maps_of_the_create_body() -> None:
    spec = load_spec(SPEC)
    found = dict(fields(spec, body_schema(spec, "POST", "/containers/create")))
    assert found[("Labels",)] == "object"
    assert found[("HostConfig", "Memory")] == "integer"
    assert found[("NetworkingConfig", "EndpointsConfig", "bridge", "IPAMConfig")] == "object"
