"""The kernel side of bridge networks, over netlink (pyroute2's asyncio client).

Every link netd makes carries an alias (IFLA_IFALIAS) that marks it as this
cluster's: ``dockyard:<chain prefix>:<cluster tag>:net:<network id>``. Reconcile and removal
act only on links with this cluster's mark, so a Docker (its ``docker0`` and
``br-*``) or another Dockyard cluster on the same host is never touched.
"""

from __future__ import annotations

import errno
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Any

from pyroute2 import AsyncIPRoute
from pyroute2.netlink.exceptions import NetlinkError

from services.common.errors import Conflict, Internal

AF_INET = 2
MAIN_TABLE = 254
RTN_UNICAST = 1


def random_mac() -> str:
    """A random unicast, locally administered MAC address."""
    first = (secrets.randbits(8) & 0xFC) | 0x02
    return ":".join(f"{b:02x}" for b in (first, *secrets.token_bytes(5)))


def owner_mark(owner: str) -> str:
    """The alias prefix of every link of the cluster ``owner`` ("<prefix>:<cluster tag>")."""
    return f"dockyard:{owner}:"


def network_mark(owner: str, network_id: str) -> str:
    return f"{owner_mark(owner)}net:{network_id}"


@dataclass(frozen=True)
class OwnedLink:
    """A link with this cluster's mark: its name and the network ID in the mark."""

    name: str
    network_id: str


async def _messages(result: Any) -> list[Any]:
    """pyroute2 answers "get" with a list and "dump" with an async iterator: a list of both."""
    if hasattr(result, "__aiter__"):
        return [msg async for msg in result]
    return list(result)


async def _first(ipr: Any, *args: Any, **kwargs: Any) -> Any:
    """The first message of a link request (None when there is none)."""
    messages = await _messages(await ipr.link(*args, **kwargs))
    return messages[0] if messages else None


async def _index(ipr: Any, name: str) -> int | None:
    try:
        msg = await _first(ipr, "get", ifname=name)
    except NetlinkError as exc:
        if exc.code == errno.ENODEV:
            return None
        raise
    return None if msg is None else int(msg["index"])


async def _alias(ipr: Any, index: int) -> str:
    msg = await _first(ipr, "get", index=index)
    return str(msg.get("ifalias") or "") if msg is not None else ""


async def ensure_bridge(
    name: str, mark: str, gateway: IPv4Address, subnet: IPv4Network, mtu: int | None
) -> None:
    """Make bridge ``name`` with ``gateway/prefix`` and bring it up; idempotent.

    A link of that name that is not ours (another alias or none) is a conflict:
    netd never adopts or changes a device it did not make.
    """
    try:
        async with AsyncIPRoute() as ipr:
            index = await _index(ipr, name)
            if index is None:
                # A fixed MAC: a bridge otherwise takes its lowest port's and changes
                # it as veths come and go, leaving containers' ARP entries for the
                # gateway pointing nowhere for seconds (dockerd sets one too).
                await ipr.link("add", ifname=name, kind="bridge", address=random_mac())
                index = await _index(ipr, name)
                assert index is not None
                await ipr.link("set", index=index, ifalias=mark)
            elif await _alias(ipr, index) != mark:
                raise Conflict(f"bridge name {name} is already in use by a device Dockyard "
                               "did not create")
            if mtu:
                await ipr.link("set", index=index, mtu=mtu)
            wanted = (str(gateway), subnet.prefixlen)
            present = [
                (a.get("address"), a["prefixlen"])
                for a in await _messages(await ipr.addr("dump", index=index, family=AF_INET))
            ]
            if wanted not in present:
                await ipr.addr("add", index=index, address=wanted[0], prefixlen=wanted[1])
            await ipr.link("set", index=index, state="up")
    except NetlinkError as exc:
        raise Internal(f"cannot set up bridge {name}: {exc}") from None


async def delete_link(name: str, mark: str) -> bool:
    """Delete link ``name`` if it carries ``mark``; True when it was deleted."""
    try:
        async with AsyncIPRoute() as ipr:
            index = await _index(ipr, name)
            if index is None or await _alias(ipr, index) != mark:
                return False
            await ipr.link("del", index=index)
            return True
    except NetlinkError as exc:
        raise Internal(f"cannot delete link {name}: {exc}") from None


async def owned_links(owner: str) -> list[OwnedLink]:
    """Every link on the host that carries this cluster's mark."""
    mark = owner_mark(owner) + "net:"
    out = []
    async with AsyncIPRoute() as ipr:
        for msg in await _messages(await ipr.link("dump")):
            alias = str(msg.get("ifalias") or "")
            if alias.startswith(mark):
                out.append(OwnedLink(str(msg.get("ifname")), alias[len(mark):]))
    return out


async def host_subnets(exclude_devices: Sequence[str] = ()) -> list[IPv4Network]:
    """Destinations of the main table's IPv4 routes (default route excluded).

    These are the subnets a new network must not overlap: the host's own LANs,
    a Docker's bridges, other clusters' bridges (even down, their routes stay).
    """
    out = []
    async with AsyncIPRoute() as ipr:
        skip = set()
        for name in exclude_devices:
            index = await _index(ipr, name)
            if index is not None:
                skip.add(index)
        for msg in await _messages(await ipr.route("dump", family=AF_INET, table=MAIN_TABLE)):
            if msg["type"] != RTN_UNICAST or not msg["dst_len"] or msg.get("oif") in skip:
                continue
            out.append(IPv4Network(f"{msg.get('dst')}/{msg['dst_len']}", strict=False))
    return out


async def link_exists(name: str) -> bool:
    async with AsyncIPRoute() as ipr:
        return await _index(ipr, name) is not None
