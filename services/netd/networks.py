"""The network manager: records in etcd, subnets from IPAM, the kernel side via bridges.

netd is the only writer of network records, and changes that pick a subnet or
claim a name run one at a time under one lock, so two creates never choose the
same free subnet. Name uniqueness is also an etcd create-if-absent transaction.
Every create undoes its steps when a later one fails.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from ipaddress import IPv4Network

from services.common.errors import Conflict, Forbidden, InvalidArgument, NotFound
from services.common.etcd_store import Store
from services.netd import bridges, filters, ipam, netlink, records
from services.netd.leases import LeaseBook
from services.netd.models import (
    BRIDGE,
    HOST,
    NULL,
    OPT_BRIDGE_NAME,
    OPT_DEFAULT_BRIDGE,
    OPT_ENABLE_ICC,
    OPT_ENABLE_MASQUERADE,
    OPT_HOST_BINDING,
    OPT_MTU,
    Endpoint,
    Filters,
    IpamConfig,
    Lease,
    Network,
    NetworkSpec,
)
from services.netd.settings import NetSettings
from services.netd.validation import check_spec

log = logging.getLogger(__name__)

ID_LENGTH = 64


def new_id() -> str:
    return secrets.token_hex(32)


def rfc3339_nano(ns: int | None = None) -> str:
    """Go's time.RFC3339Nano in UTC: nanoseconds with trailing zeros dropped."""
    ns = time.time_ns() if ns is None else ns
    seconds, fraction = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{fraction:09d}".rstrip("0")
    return f"{stamp}{'.' + digits if digits else ''}Z"


def bridge_device_for(network_id: str, spec: NetworkSpec) -> str:
    """dockerd's naming: the requested name, else ``br-<first 12 hex of the ID>``."""
    return spec.options.get(OPT_BRIDGE_NAME) or f"br-{network_id[:12]}"


class NetworkManager:
    def __init__(self, store: Store, settings: NetSettings) -> None:
        self._store = store
        self.settings = settings
        self.leases = LeaseBook(store)
        self._lock = asyncio.Lock()
        self._ids_by_name: dict[str, str] = {}
        """Names resolved before; each use is checked against the network record."""

    @property
    def store(self) -> Store:
        return self._store

    # ---- reading ----------------------------------------------------------------

    async def records(self) -> list[Network]:
        """Every network record (endpoints not filled), oldest first."""
        entries = await self._store.get_prefix(records.NETWORKS)
        networks = [records.load_network(e.value) for e in entries]
        return sorted(networks, key=lambda n: (n.created, n.name))

    async def _with_endpoints(self, network: Network) -> Network:
        entries = await self._store.get_prefix(records.endpoints_prefix(network.id))
        endpoints = tuple(records.load_endpoint(e.value) for e in entries)
        return network if not endpoints else _replace_endpoints(network, endpoints)

    async def _by_id(self, network_id: str) -> Network | None:
        entry = await self._store.get(records.network_key(network_id))
        return None if entry is None else records.load_network(entry.value)

    async def resolve(self, ref: str) -> Network:
        """Docker's lookup order: full ID, exact name, then a unique ID prefix."""
        if not ref:
            raise NotFound("network  not found")
        if len(ref) == ID_LENGTH and (found := await self._by_id(ref)) is not None:
            return found
        # Every sandbox resolves its network (mostly "bridge"): a name seen
        # before costs one read, not two. Names are unique, so a record that
        # still carries the name is the one the name key points to.
        known = self._ids_by_name.get(ref)
        if known is not None and (found := await self._by_id(known)) is not None \
                and found.name == ref:
            return found
        self._ids_by_name.pop(ref, None)
        name = await self._store.get(records.name_key(ref))
        if name is not None and (found := await self._by_id(records.load_name(name.value))):
            self._ids_by_name[ref] = found.id
            return found
        if all(c in "0123456789abcdef" for c in ref):
            matches = await self._store.get_prefix(records.NETWORKS + ref)
            if len(matches) == 1:
                return records.load_network(matches[0].value)
            if len(matches) > 1:
                raise InvalidArgument(
                    f"network {ref} is ambiguous ({len(matches)} matches found based on ID prefix)"
                )
        raise NotFound(f"network {ref} not found")

    async def inspect(self, ref: str) -> Network:
        return await self._with_endpoints(await self.resolve(ref))

    async def list_networks(self, wanted: Filters) -> list[Network]:
        filters.check(wanted, filters.LIST_FILTERS)
        out = []
        for network in await self.records():
            network = await self._with_endpoints(network)
            if filters.matches(network, wanted):
                out.append(network)
        return out

    # ---- creating ---------------------------------------------------------------

    async def _reserved_subnets(self, exclude: str = "") -> list[IPv4Network]:
        return [
            ipam.v4_subnet(n.pool) for n in await self.records()
            if n.pool is not None and n.id != exclude
        ]

    async def _pool_for(self, requested: Sequence[IpamConfig], own_device: str) -> IpamConfig:
        """The recorded pool: the requested one if free, else a free default pool."""
        reserved = await self._reserved_subnets()
        if requested and requested[0].subnet:
            subnet = ipam.v4_subnet(requested[0])
            ipam.check_free(subnet, reserved)
            return ipam.complete(requested[0], subnet)
        # Host routes (a Docker's bridges, other clusters', the LAN) are never
        # chosen; our own device's route is our own pool, not a clash.
        taken = [*reserved, *await netlink.host_subnets([own_device])]
        subnet = ipam.pick_subnet(self.settings.pools, taken)
        gateway = requested[0].gateway if requested else ""
        return ipam.complete(IpamConfig(gateway=gateway), subnet)

    async def _check_device_free(self, device: str) -> None:
        for network in await self.records():
            if network.bridge_device == device:
                raise Conflict(f"bridge name {device} is already used by network {network.name}")

    async def create(self, spec: NetworkSpec) -> Network:
        check_spec(spec)
        network_id = new_id()
        async with self._lock:
            if not await self._store.create(records.name_key(spec.name),
                                            records.dump_name(network_id)):
                raise Conflict(f"network with name {spec.name} already exists")
            try:
                device = bridge_device_for(network_id, spec)
                await self._check_device_free(device)
                pool = await self._pool_for(spec.ipam_config, device)
                network = Network(
                    id=network_id, name=spec.name, driver=BRIDGE, created=rfc3339_nano(),
                    internal=spec.internal, attachable=spec.attachable, ingress=spec.ingress,
                    ipam_driver="default", ipam_options=dict(spec.ipam_options),
                    ipam_config=(pool,), options=dict(spec.options), labels=dict(spec.labels),
                    bridge_device=device,
                )
                await self._store.put(records.network_key(network_id),
                                      records.dump_network(network))
            except BaseException:
                await self._store.delete(records.name_key(spec.name))
                raise
            try:
                await bridges.apply(network, self.settings)
            except BaseException:
                await self._forget(network)
                raise
        log.info("network created", extra={"network": network.name, "id": network.id})
        return network

    async def _forget(self, network: Network) -> None:
        """Undo everything of a network: kernel side, leases, records (name last)."""
        await bridges.teardown(network, self.settings)
        await self.leases.drop_all(network.id)
        await self._store.delete(records.network_key(network.id))
        await self._store.delete(records.name_key(network.name))

    # ---- removing ---------------------------------------------------------------

    async def _remove(self, network: Network) -> None:
        if network.builtin:
            raise Forbidden(f"{network.name} is a pre-defined network and cannot be removed")
        if await self._store.count_prefix(records.endpoints_prefix(network.id)):
            raise Forbidden(
                f"error while removing network: network {network.name} id {network.id} "
                "has active endpoints"
            )
        await self._forget(network)
        log.info("network removed", extra={"network": network.name, "id": network.id})

    async def remove(self, ref: str) -> None:
        async with self._lock:
            await self._remove(await self.resolve(ref))

    async def prune(self, wanted: Filters) -> list[str]:
        filters.check(wanted, filters.PRUNE_FILTERS)
        removed = []
        async with self._lock:
            for network in await self.records():
                if network.builtin or not filters.prune_matches(network, wanted):
                    continue
                if await self._store.count_prefix(records.endpoints_prefix(network.id)):
                    continue
                await self._forget(network)
                removed.append(network.name)
        return removed

    # ---- addresses --------------------------------------------------------------

    async def allocate(self, ref: str, owner: str, address: str = "") -> Lease:
        return await self.leases.allocate(await self.resolve(ref), owner, address)

    async def release(self, ref: str, address: str) -> None:
        await self.leases.release(await self.resolve(ref), address)

    # ---- the built-in networks ----------------------------------------------------

    async def _default_bridge(self, existing: Network | None) -> Network:
        """The ``bridge`` network as daemon.json describes it now (bip, bridge, icc ...)."""
        settings = self.settings
        device = settings.bridge
        if settings.bip:
            pool = ipam.bip_config(settings.bip)
        elif existing is not None and existing.pool is not None:
            pool = existing.pool
        else:
            reserved = await self._reserved_subnets(exclude=existing.id if existing else "")
            taken = [*reserved, *await netlink.host_subnets([device])]
            pool = ipam.complete(IpamConfig(), ipam.pick_subnet(settings.pools, taken))
        return Network(
            id=existing.id if existing else new_id(), name="bridge", driver=BRIDGE,
            created=existing.created if existing else rfc3339_nano(), builtin=True,
            ipam_config=(pool,), bridge_device=device,
            options={
                OPT_DEFAULT_BRIDGE: "true",
                OPT_ENABLE_ICC: str(settings.icc).lower(),
                OPT_ENABLE_MASQUERADE: str(settings.ip_masq).lower(),
                OPT_HOST_BINDING: "0.0.0.0",
                OPT_BRIDGE_NAME: device,
                OPT_MTU: str(settings.mtu),
            },
        )

    async def ensure_builtins(self) -> None:
        """Record bridge, host and none when missing; follow daemon.json for bridge."""
        async with self._lock:
            for name, driver in (("bridge", BRIDGE), ("host", HOST), ("none", NULL)):
                entry = await self._store.get(records.name_key(name))
                existing = None
                if entry is not None:
                    existing = await self._by_id(records.load_name(entry.value))
                if driver == BRIDGE:
                    wanted = await self._default_bridge(existing)
                    if existing is not None and existing != wanted:
                        # The device or subnet changed in daemon.json: drop the old one.
                        await bridges.teardown(existing, self.settings)
                elif existing is not None:
                    continue
                else:
                    wanted = Network(id=new_id(), name=name, driver=driver,
                                     created=rfc3339_nano(), builtin=True)
                if existing != wanted:
                    await self._store.put(records.network_key(wanted.id),
                                          records.dump_network(wanted))
                    await self._store.put(records.name_key(name), records.dump_name(wanted.id))


def _replace_endpoints(network: Network, endpoints: tuple[Endpoint, ...]) -> Network:
    return replace(network, endpoints=endpoints)
