"""IPv4 address management as pure functions: pools, carving, checks, the next free address.

Nothing here touches etcd or the kernel: :mod:`services.netd.leases` stores what
these functions decide, :mod:`services.netd.networks` feeds them the subnets
already in use (other networks' and the host's routes).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection, Iterator, Sequence
from ipaddress import IPv4Address, IPv4Network

from services.common.config import AddressPool
from services.common.errors import Forbidden, InvalidArgument
from services.netd.models import IpamConfig

DEFAULT_POOLS: tuple[AddressPool, ...] = (
    *(AddressPool(base=f"172.{n}.0.0/16", size=16) for n in range(17, 32)),
    AddressPool(base="192.168.0.0/16", size=20),
)
"""dockerd's built-in default-address-pools: 172.17-31.0.0/16, then 192.168.0.0/16 in /20s."""

POOL_OVERLAP = "invalid pool request: Pool overlaps with other one on this address space"
NO_FREE_POOL = (
    "could not find an available, non-overlapping IPv4 address pool among the defaults "
    "to assign to the network"
)


def _prefix(text: str) -> IPv4Network | ipaddress.IPv6Network | None:
    """A CIDR as Go's netip.ParsePrefix reads it (host bits allowed); None if malformed."""
    if "/" not in text:
        return None
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None


def _address(text: str) -> IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _family(version: int) -> str:
    return "IPv4" if version == 4 else "IPv6"


def _masked_text(text: str) -> tuple[bool, str]:
    """Whether a CIDR has no host bits, and its masked form."""
    interface = ipaddress.ip_interface(text)
    return interface.ip == interface.network.network_address, str(interface.network)


def _check_address(
    text: str, subnet: IPv4Network | ipaddress.IPv6Network, shown: str
) -> str | None:
    if not text:
        return None
    addr = _address(text)
    if addr is None:
        return "invalid address"
    if addr.version != subnet.version:
        return f"parent subnet is an {_family(subnet.version)} block"
    if addr not in subnet:
        return f"parent subnet {shown} doesn't contain this address"
    return None


def _check_range(
    text: str, subnet: IPv4Network | ipaddress.IPv6Network, shown: str
) -> list[str]:
    if not text:
        return []
    prefix = _prefix(text)
    if prefix is None:
        return [f"invalid ip-range {text}: invalid CIDR block notation"]
    if prefix.version != subnet.version:
        return [f"invalid ip-range {text}: parent subnet is an {_family(subnet.version)} block"]
    errors = []
    if prefix.prefixlen < subnet.prefixlen:
        errors.append(f"invalid ip-range {text}: CIDR block is bigger than its parent subnet "
                      f"{shown}")
    clean, masked = _masked_text(text)
    if not clean:
        errors.append(f"invalid ip-range {text}: it should be {masked}")
    if not subnet.overlaps(prefix):
        errors.append(f"invalid ip-range {text}: parent subnet {shown} doesn't contain ip-range")
    return errors


def config_errors(config: IpamConfig) -> list[str]:
    """dockerd's ValidateIPAM wording for one pool; empty when it is valid."""
    subnet = _prefix(config.subnet)
    if subnet is None:
        return [f"invalid subnet {config.subnet}: invalid CIDR block notation"]
    errors = []
    clean, masked = _masked_text(config.subnet)
    if not clean:
        errors.append(f"invalid subnet {config.subnet}: it should be {masked}")
    # moby prints the subnet as given (Go's netip.Prefix keeps host bits).
    shown = config.subnet
    errors += _check_range(config.ip_range, subnet, shown)
    problem = _check_address(config.gateway, subnet, shown)
    if problem:
        errors.append(f"invalid gateway {config.gateway}: {problem}")
    for name, aux in sorted(config.aux_addresses.items()):
        problem = _check_address(aux, subnet, shown)
        if problem:
            errors.append(f"invalid auxiliary address {name}: {problem}")
    return errors


def check_configs(configs: Sequence[IpamConfig]) -> None:
    """Raise dockerd's "invalid network config" (400) listing every problem found."""
    errors = [e for config in configs for e in config_errors(config)]
    if not errors:
        return
    # moby's multierror: one error alone, several as a "* " list.
    body = errors[0] if len(errors) == 1 else "* " + "\n* ".join(errors)
    raise InvalidArgument("invalid network config:\n" + body)


def v4_subnet(config: IpamConfig) -> IPv4Network:
    """The subnet of a validated IPv4 pool."""
    return IPv4Network(config.subnet, strict=False)


def overlapping(subnet: IPv4Network, taken: Collection[IPv4Network]) -> bool:
    return any(subnet.overlaps(other) for other in taken)


def check_free(subnet: IPv4Network, reserved: Collection[IPv4Network]) -> None:
    """An explicit subnet may not overlap another network's pool (dockerd: 403)."""
    if overlapping(subnet, reserved):
        raise Forbidden(POOL_OVERLAP)


def carve(pools: Sequence[AddressPool]) -> Iterator[IPv4Network]:
    """Every subnet the pools offer, in order: each base split into ``size`` prefixes."""
    for pool in pools:
        base = IPv4Network(pool.base, strict=False)
        yield from base.subnets(new_prefix=pool.size)


def pick_subnet(
    pools: Sequence[AddressPool], taken: Collection[IPv4Network]
) -> IPv4Network:
    """The first carved subnet that overlaps nothing in ``taken`` (networks and host routes)."""
    for candidate in carve(pools):
        if not overlapping(candidate, taken):
            return candidate
    raise Forbidden(NO_FREE_POOL)


def first_host(subnet: IPv4Network) -> IPv4Address:
    """dockerd's default gateway: the first address after the network address."""
    return subnet.network_address + (0 if subnet.prefixlen >= 31 else 1)


def complete(config: IpamConfig, subnet: IPv4Network) -> IpamConfig:
    """The pool as recorded: masked subnet, gateway filled in."""
    return IpamConfig(
        subnet=str(subnet),
        gateway=config.gateway or str(first_host(subnet)),
        ip_range=config.ip_range,
        aux_addresses=dict(config.aux_addresses),
    )


def reserved_addresses(config: IpamConfig) -> frozenset[IPv4Address]:
    """Addresses never handed to an endpoint: network, broadcast, gateway, aux addresses."""
    subnet = v4_subnet(config)
    out = {IPv4Address(config.gateway)} if config.gateway else set()
    out |= {IPv4Address(a) for a in config.aux_addresses.values()}
    if subnet.prefixlen < 31:
        out |= {subnet.network_address, subnet.broadcast_address}
    return frozenset(out)


def allocatable(config: IpamConfig) -> IPv4Network:
    """Where endpoint addresses come from: the ip-range when set, else the subnet."""
    return IPv4Network(config.ip_range or config.subnet, strict=False)


def next_free(config: IpamConfig, taken: Collection[IPv4Address]) -> IPv4Address | None:
    """The lowest address of the allocatable range not taken nor reserved; None when full."""
    skip = reserved_addresses(config)
    for address in allocatable(config):
        if address not in taken and address not in skip:
            return address
    return None


def check_requested(config: IpamConfig, text: str) -> IPv4Address:
    """An address a client asked for by value: inside the subnet and not reserved."""
    addr = _address(text)
    if not isinstance(addr, IPv4Address):
        raise InvalidArgument(f"invalid IPv4 address: {text}")
    if addr not in v4_subnet(config):
        raise InvalidArgument(
            f"no configured subnet contains IP address {text}"
        )
    if addr in reserved_addresses(config):
        raise InvalidArgument(f"address {text} is reserved on this network")
    return addr


def bip_config(bip: str) -> IpamConfig:
    """daemon.json ``bip`` ("172.30.0.1/16"): the gateway address with its subnet."""
    interface = ipaddress.ip_interface(bip)
    if not isinstance(interface, ipaddress.IPv4Interface):
        raise InvalidArgument(f"invalid bip {bip}: IPv6 is not supported")
    return IpamConfig(subnet=str(interface.network), gateway=str(interface.ip))
