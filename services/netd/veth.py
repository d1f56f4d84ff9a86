"""The kernel side of one endpoint: a veth pair from a bridge into a container's namespace.

The host end is named like dockerd's (``veth`` + 7 hex), enslaved to the
network's bridge and marked with an alias ``dockyard:<owner>:sb:<container id>``
so reconcile can tell this cluster's orphans from anything else on the host.
The container end is created directly inside the namespace under its final
name (eth0, eth1 ...) with its MAC and MTU, which saves the move and rename
dockerd does.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import secrets
import socket
from dataclasses import dataclass
from typing import Any

from pyroute2 import AsyncIPRoute, IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from services.common.errors import Conflict, Internal
from services.netd.models import InterfaceStats
from services.netd.netlink import owner_mark

AF_INET = 2
LOOPBACK_IFINDEX = 1
"""The kernel gives every namespace's ``lo`` this index (it checks so when it makes one)."""
_STAT_FIELDS = ("rx_bytes", "rx_packets", "rx_errors", "rx_dropped",
                "tx_bytes", "tx_packets", "tx_errors", "tx_dropped")

log = logging.getLogger(__name__)


def sandbox_mark(owner: str, container_id: str) -> str:
    return f"{owner_mark(owner)}sb:{container_id}"


def new_host_name() -> str:
    return "veth" + secrets.token_hex(4)[:7]


@dataclass(frozen=True)
class Plug:
    """One endpoint's interface as it is to be made."""

    bridge: str
    host_name: str
    mark: str
    ifname: str
    mac: str
    address: str
    prefixlen: int
    mtu: int | None
    isolated: bool
    """A bridge port that cannot talk to other isolated ports (``enable_icc=false``)."""


async def _messages(result: Any) -> list[Any]:
    if hasattr(result, "__aiter__"):
        return [msg async for msg in result]
    return list(result)


async def _lookup(ipr: Any, name: str) -> int | None:
    found = await ipr.link_lookup(ifname=name)
    return int(found[0]) if found else None


_BRIDGE_INDEXES: dict[str, int] = {}
"""Bridge name → interface index, as last looked up. Each netlink answer about a
link costs a millisecond of parsing here; a bridge lives as long as its network.
The kernel hands out indexes in increasing order, so a stale one names no link
(or none that takes ports) and the add fails: it is looked up again then."""


async def _bridge_index(host: Any, name: str, *, fresh: bool) -> int:
    if not fresh and name in _BRIDGE_INDEXES:
        return _BRIDGE_INDEXES[name]
    index = await _lookup(host, name)
    if index is None:
        _BRIDGE_INDEXES.pop(name, None)
        raise Internal(f"bridge {name} is missing: restart netd to rebuild it")
    _BRIDGE_INDEXES[name] = index
    return index


async def _add_pair(host: Any, ns_fd: int, plan: Plug) -> tuple[int, int]:
    """Make the pair, host end up on the bridge; (host end index, container end index)."""
    peer: dict[str, Any] = {"ifname": plan.ifname, "net_ns_fd": ns_fd, "address": plan.mac}
    if plan.mtu:
        peer["mtu"] = plan.mtu
    extra = {"mtu": plan.mtu} if plan.mtu else {}
    for fresh in (False, True):
        bridge = await _bridge_index(host, plan.bridge, fresh=fresh)
        try:
            await host.link("add", ifname=plan.host_name, kind="veth", peer=peer,
                            master=bridge, state="up", **extra)
            break
        except NetlinkError as exc:
            if exc.code == errno.EEXIST:
                raise Conflict(f"interface {plan.host_name} or {plan.ifname} already "
                               "exists") from None
            if fresh:
                raise
    # One answer names both ends: the host end's index, and the container
    # end's (IFLA_LINK, an index in the container's namespace).
    made = (await host.link("get", ifname=plan.host_name))[0]
    return int(made["index"]), int(made.get("link"))


def ns_route(sock: socket.socket) -> AsyncIPRoute:
    """An rtnetlink client over a socket opened inside a namespace (see nsfs)."""
    return AsyncIPRoute(fileno=sock.detach())


async def plug(ns_fd: int, ns_sock: socket.socket, plan: Plug, *, first: bool,
               gateway: str) -> None:
    """Make the veth pair and configure the container end; ``gateway`` "" adds no route.

    ``ns_sock`` is consumed. On failure nothing of the pair is left.
    """
    try:
        async with AsyncIPRoute() as host:
            index, eth = await _add_pair(host, ns_fd, plan)
            if plan.isolated:
                await host.brport("set", index=index, isolated=1)
            await host.link("set", index=index, ifalias=plan.mark)
        async with ns_route(ns_sock) as ns:
            if first:
                # By its fixed index: one netlink round trip less per start.
                await ns.link("set", index=LOOPBACK_IFINDEX, state="up")
            await ns.addr("add", index=eth, address=plan.address, prefixlen=plan.prefixlen)
            await ns.link("set", index=eth, state="up")
            if gateway:
                await ns.route("replace", dst="0.0.0.0/0", gateway=gateway, oif=eth)
    except NetlinkError as exc:
        await unplug(plan.host_name, plan.mark)
        raise Internal(f"cannot set up {plan.ifname} ({plan.host_name}): {exc}") from None
    except BaseException:
        await unplug(plan.host_name, plan.mark)
        raise
    finally:
        ns_sock.close()  # a no-op once the client took it over


async def lo_up(ns_sock: socket.socket) -> None:
    """Bring up loopback in a namespace that gets no endpoint (``--network none``)."""
    async with ns_route(ns_sock) as ns:
        await ns.link("set", index=LOOPBACK_IFINDEX, state="up")


async def set_default_route(ns_sock: socket.socket, ifname: str, gateway: str) -> None:
    """Point the namespace's default route at ``gateway`` through ``ifname``."""
    try:
        async with ns_route(ns_sock) as ns:
            eth = await _lookup(ns, ifname)
            if eth is not None:
                await ns.route("replace", dst="0.0.0.0/0", gateway=gateway, oif=eth)
    except NetlinkError as exc:
        raise Internal(f"cannot set the default route via {gateway}: {exc}") from None


def _delete_sync(name: str, mark: str) -> bool:
    # Deleting a veth waits for an RCU grace period in the kernel (tens of ms):
    # done with a blocking client on a worker thread, never on the event loop.
    with IPRoute() as ipr:
        try:
            msg = ipr.link("get", ifname=name)[0]
        except NetlinkError as exc:
            if exc.code == errno.ENODEV:
                return False
            raise
        if str(msg.get("ifalias") or "") != mark:
            return False
        try:
            ipr.link("del", index=msg["index"])
        except NetlinkError as exc:
            if exc.code == errno.ENODEV:  # gone with its namespace meanwhile
                return False
            raise
        return True


async def unplug(host_name: str, mark: str) -> bool:
    """Delete the pair by its host end if it carries ``mark``; True when it was deleted."""
    try:
        return await asyncio.get_running_loop().run_in_executor(
            None, _delete_sync, host_name, mark
        )
    except NetlinkError as exc:
        log.warning("cannot delete veth", extra={"link": host_name, "error": str(exc)})
        return False


async def owned(owner: str) -> dict[str, str]:
    """Host ends of this cluster's veths: link name → container ID in the mark."""
    prefix = owner_mark(owner) + "sb:"
    out = {}
    async with AsyncIPRoute() as ipr:
        for msg in await _messages(await ipr.link("dump")):
            alias = str(msg.get("ifalias") or "")
            if alias.startswith(prefix):
                out[str(msg.get("ifname"))] = alias[len(prefix):]
    return out


async def stats(ns_sock: socket.socket) -> dict[str, InterfaceStats]:
    """Counters of every interface but lo inside a namespace, by name."""
    out = {}
    async with ns_route(ns_sock) as ns:
        for msg in await _messages(await ns.link("dump")):
            name = str(msg.get("ifname"))
            if name == "lo":
                continue
            counters = msg.get("stats64") or msg.get("stats") or {}
            out[name] = InterfaceStats(**{f: int(counters.get(f, 0)) for f in _STAT_FIELDS})
    return out
