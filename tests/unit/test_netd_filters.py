"""Network list and prune filters, and the iptables rules a network gets (pure)."""

from __future__ import annotations

import pytest

from services.common.errors import InvalidArgument
from services.netd import filters
from services.netd.models import Endpoint, Filters, IpamConfig, Network
from services.netd.rules import Chains, network_rules

CREATED = "2024-01-01T00:00:00.5Z"
CUSTOM = Network(id="ab" * 32, name="web-net", driver="bridge", created=CREATED,
                 labels={"team": "a", "tier": "front"},
                 ipam_config=(IpamConfig(subnet="10.9.0.0/24", gateway="10.9.0.1"),),
                 bridge_device="br-abababababab")
BUILTIN = Network(id="cd" * 32, name="host", driver="host", created=CREATED, builtin=True)


@pytest.mark.parametrize(
    ("wanted", "custom", "builtin"),
    [
        ({}, True, True),
        ({"driver": ("bridge",)}, True, False),
        ({"driver": ("bridge", "host")}, True, True),
        ({"name": ("web",)}, True, False),  # moby's Match: a regexp found in the name
        ({"name": ("^net",)}, False, False),
        ({"id": ("abab",)}, True, False),
        ({"label": ("team",)}, True, False),
        ({"label": ("team=a", "tier=front")}, True, False),
        ({"label": ("team=b",)}, False, False),
        ({"type": ("custom",)}, True, False),
        ({"type": ("builtin",)}, False, True),
        ({"scope": ("local",)}, True, True),
        ({"scope": ("swarm",)}, False, False),
        ({"dangling": ("true",)}, True, False),
        ({"dangling": ("false",)}, False, True),
    ],
)
def test_list_filters(wanted: Filters, custom: bool, builtin: bool) -> None:
    filters.check(wanted, filters.LIST_FILTERS)
    assert filters.matches(CUSTOM, wanted) is custom
    assert filters.matches(BUILTIN, wanted) is builtin


def test_a_network_with_endpoints_is_not_dangling() -> None:
    used = Network(**{**CUSTOM.__dict__, "endpoints": (Endpoint("c" * 64, "web", "e" * 64),)})
    assert not filters.matches(used, {"dangling": ("true",)})


@pytest.mark.parametrize(
    ("wanted", "message"),
    [
        ({"bogus": ("x",)}, "invalid filter 'bogus'"),
        ({"type": ("other",)}, "invalid filter: 'type'='other'"),
        ({"dangling": ("maybe",)}, "invalid filter 'dangling=maybe'"),
    ],
)
def test_bad_filters_are_refused(wanted: Filters, message: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        filters.check(wanted, filters.LIST_FILTERS)
    assert err.value.message == message


def test_prune_filters() -> None:
    now = filters.created_timestamp(CREATED) + 3600
    assert filters.prune_matches(CUSTOM, {}, now)
    assert filters.prune_matches(CUSTOM, {"until": ("30m",)}, now)
    assert not filters.prune_matches(CUSTOM, {"until": ("2h",)}, now)
    assert not filters.prune_matches(CUSTOM, {"until": ("2023-12-31T00:00:00Z",)}, now)
    assert filters.prune_matches(CUSTOM, {"until": ("1704070000",)}, now)
    assert filters.prune_matches(CUSTOM, {"label": ("team=a",)}, now)
    assert not filters.prune_matches(CUSTOM, {"label!": ("team",)}, now)
    assert filters.prune_matches(CUSTOM, {"label!": ("team=b",)}, now)
    with pytest.raises(InvalidArgument):
        filters.prune_matches(CUSTOM, {"until": ("yesterday",)}, now)


def test_created_keeps_nanoseconds_to_the_microsecond() -> None:
    assert filters.created_timestamp("2024-01-01T00:00:00.123456789Z") == pytest.approx(
        1704067200.123456789
    )


def _rendered(internal: bool = False, icc: bool = True, masquerade: bool = True) -> list[str]:
    network = Network(**{**CUSTOM.__dict__, "internal": internal})
    return [f"{r.table} {r.chain} {' '.join(r.args)}"
            for r in network_rules(Chains("DY", "c1"), network, icc=icc,
                                   masquerade=masquerade)]


def test_rules_of_a_plain_bridge_network() -> None:
    rules = _rendered()
    assert all("--comment net:abababababab:c1" in r for r in rules)
    assert any(r.startswith("nat DY-POSTROUTING -s 10.9.0.0/24 ! -o br-abababababab")
               for r in rules)
    assert any("DY-ISOLATION-STAGE-2 -o br-abababababab" in r and r.endswith("DROP")
               for r in rules)
    assert any("-i br-abababababab -o br-abababababab" in r and r.endswith("ACCEPT")
               for r in rules)


def test_icc_off_drops_traffic_inside_the_bridge() -> None:
    inside = [r for r in _rendered(icc=False) if "-i br-abababababab -o br-abababababab" in r]
    assert len(inside) == 1 and inside[0].endswith("-j DROP")


def test_internal_networks_have_no_masquerade_and_no_way_out() -> None:
    rules = _rendered(internal=True)
    assert not any("MASQUERADE" in r for r in rules)
    assert not any("! -o br-abababababab" in r and r.endswith("ACCEPT") for r in rules)
    assert sum(r.startswith("filter DY-ISOLATION-STAGE-1") and r.endswith("DROP")
               for r in rules) == 2


def test_masquerade_can_be_disabled() -> None:
    # Only the outbound one: published ports still need theirs (loopback, hairpin).
    rules = [r for r in _rendered(masquerade=False) if "MASQUERADE" in r]
    assert rules and not any("! -o br-abababababab" in r for r in rules)
    assert all("--src-type LOCAL" in r or "--ctstate DNAT" in r for r in rules)


def test_chain_names_fit_iptables_limit_for_the_longest_prefix() -> None:
    chains = Chains("ABCDEFGHIJ")
    assert all(len(chain) <= 28 for _, chain in chains.own())
