"""netd's IPAM as pure functions: carving pools, overlap, validation wording, next address."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from services.common.config import AddressPool
from services.common.errors import Forbidden, InvalidArgument
from services.netd import ipam
from services.netd.models import IpamConfig


def test_default_pools_start_at_172_17_and_end_in_192_168_slash_20s() -> None:
    carved = list(ipam.carve(ipam.DEFAULT_POOLS))
    assert carved[0] == IPv4Network("172.17.0.0/16")
    assert carved[14] == IPv4Network("172.31.0.0/16")
    assert carved[15] == IPv4Network("192.168.0.0/20")
    assert len(carved) == 15 + 16


def test_pick_skips_subnets_overlapping_routes_and_networks() -> None:
    taken = [IPv4Network("172.17.0.0/16"), IPv4Network("172.18.5.0/24")]
    assert ipam.pick_subnet(ipam.DEFAULT_POOLS, taken) == IPv4Network("172.19.0.0/16")


def test_pick_carves_configured_pools() -> None:
    pools = (AddressPool(base="10.10.0.0/16", size=24),)
    taken = [IPv4Network("10.10.0.0/23")]
    assert ipam.pick_subnet(pools, taken) == IPv4Network("10.10.2.0/24")


def test_exhausted_pools_are_refused() -> None:
    pools = (AddressPool(base="10.10.0.0/24", size=24),)
    with pytest.raises(Forbidden) as err:
        ipam.pick_subnet(pools, [IPv4Network("10.0.0.0/8")])
    assert "non-overlapping IPv4 address pool" in err.value.message


def test_explicit_subnet_overlapping_another_network_is_dockerds_403() -> None:
    with pytest.raises(Forbidden) as err:
        ipam.check_free(IPv4Network("10.1.0.0/16"), [IPv4Network("10.1.2.0/24")])
    assert err.value.message == (
        "invalid pool request: Pool overlaps with other one on this address space"
    )
    ipam.check_free(IPv4Network("10.2.0.0/16"), [IPv4Network("10.1.2.0/24")])


@pytest.mark.parametrize(
    ("config", "errors"),
    [
        (IpamConfig(subnet="10.0.0.0/24", gateway="10.0.0.1", ip_range="10.0.0.128/25"), []),
        (IpamConfig(subnet="bogus"), ["invalid subnet bogus: invalid CIDR block notation"]),
        (IpamConfig(subnet="10.0.0.5/24"),
         ["invalid subnet 10.0.0.5/24: it should be 10.0.0.0/24"]),
        (IpamConfig(subnet="10.0.0.0/24", gateway="10.0.1.1"),
         ["invalid gateway 10.0.1.1: parent subnet 10.0.0.0/24 doesn't contain this address"]),
        (IpamConfig(subnet="10.0.0.0/24", gateway="nope"),
         ["invalid gateway nope: invalid address"]),
        (IpamConfig(subnet="10.0.0.0/24", ip_range="10.0.0.0/16"),
         ["invalid ip-range 10.0.0.0/16: CIDR block is bigger than its parent subnet 10.0.0.0/24"]),
        (IpamConfig(subnet="10.0.0.0/24", ip_range="10.9.0.0/25"),
         ["invalid ip-range 10.9.0.0/25: parent subnet 10.0.0.0/24 doesn't contain ip-range"]),
        (IpamConfig(subnet="10.0.0.0/24", aux_addresses={"db": "10.1.0.1"}),
         ["invalid auxiliary address db: parent subnet 10.0.0.0/24 doesn't contain this address"]),
    ],
)
def test_config_errors_use_dockerds_words(config: IpamConfig, errors: list[str]) -> None:
    assert ipam.config_errors(config) == errors


def test_several_errors_are_listed_like_moby_multierror() -> None:
    with pytest.raises(InvalidArgument) as err:
        ipam.check_configs([IpamConfig(subnet="10.0.0.5/24", gateway="10.1.0.1")])
    assert err.value.message == (
        "invalid network config:\n"
        "* invalid subnet 10.0.0.5/24: it should be 10.0.0.0/24\n"
        "* invalid gateway 10.1.0.1: parent subnet 10.0.0.5/24 doesn't contain this address"
    )


def test_complete_fills_the_first_host_as_gateway() -> None:
    done = ipam.complete(IpamConfig(), IPv4Network("10.3.0.0/16"))
    assert done == IpamConfig(subnet="10.3.0.0/16", gateway="10.3.0.1")


def test_next_free_skips_network_gateway_aux_and_taken() -> None:
    config = IpamConfig(subnet="10.0.0.0/29", gateway="10.0.0.1", aux_addresses={"x": "10.0.0.2"})
    assert ipam.next_free(config, set()) == IPv4Address("10.0.0.3")
    taken = {IPv4Address("10.0.0.3"), IPv4Address("10.0.0.4")}
    assert ipam.next_free(config, taken) == IPv4Address("10.0.0.5")
    full = {IPv4Address(f"10.0.0.{n}") for n in range(3, 7)}
    assert ipam.next_free(config, full) is None  # .7 is the broadcast address


def test_next_free_stays_in_the_ip_range() -> None:
    config = IpamConfig(subnet="10.0.0.0/24", gateway="10.0.0.1", ip_range="10.0.0.128/25")
    assert ipam.next_free(config, set()) == IPv4Address("10.0.0.128")


def test_requested_address_must_be_inside_and_not_reserved() -> None:
    config = IpamConfig(subnet="10.0.0.0/24", gateway="10.0.0.1")
    assert ipam.check_requested(config, "10.0.0.9") == IPv4Address("10.0.0.9")
    for bad in ("10.0.1.9", "10.0.0.1", "10.0.0.255", "x"):
        with pytest.raises(InvalidArgument):
            ipam.check_requested(config, bad)


def test_bip_is_the_gateway_with_its_subnet() -> None:
    assert ipam.bip_config("172.30.0.1/16") == IpamConfig(subnet="172.30.0.0/16",
                                                           gateway="172.30.0.1")
