"""Address leases in etcd: each one is a create-if-absent key, so none is handed out twice.

Within netd, allocations on one network run one at a time (an asyncio lock per
network) so concurrent callers do not all race for the same lowest address;
the etcd transaction is what guarantees uniqueness, also against another netd.
"""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Address

from services.common.errors import Conflict, InvalidArgument, Unavailable
from services.common.etcd_store import Store
from services.netd import ipam, records
from services.netd.models import Lease, Network


class LeaseBook:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._locks: dict[str, asyncio.Lock] = {}

    def _lock(self, network_id: str) -> asyncio.Lock:
        return self._locks.setdefault(network_id, asyncio.Lock())

    async def _taken(self, network_id: str) -> set[IPv4Address]:
        prefix = records.lease_prefix(network_id)
        return {IPv4Address(e.key[len(prefix):]) for e in await self._store.get_prefix(prefix)}

    async def allocate(self, network: Network, owner: str, requested: str = "") -> Lease:
        pool = network.pool
        if pool is None:
            raise Conflict(f"network {network.name} has no address pool to allocate from")
        subnet = ipam.v4_subnet(pool)
        async with self._lock(network.id):
            if requested:
                address = ipam.check_requested(pool, requested)
                if not await self._store.create(
                    records.lease_key(network.id, str(address)), records.dump_lease(owner)
                ):
                    raise Conflict("Address already in use")
                return Lease(network.id, str(address), subnet.prefixlen, pool.gateway)
            taken = await self._taken(network.id)
            while True:
                candidate = ipam.next_free(pool, taken)
                if candidate is None:
                    raise Unavailable(
                        "no available IPv4 addresses on this network's address pools: "
                        f"{network.name} ({network.id})"
                    )
                if await self._store.create(
                    records.lease_key(network.id, str(candidate)), records.dump_lease(owner)
                ):
                    return Lease(network.id, str(candidate), subnet.prefixlen, pool.gateway)
                taken.add(candidate)  # another writer won it: try the next one

    async def release(self, network: Network, address: str) -> None:
        try:
            IPv4Address(address)
        except ValueError:
            raise InvalidArgument(f"invalid IPv4 address: {address}") from None
        await self._store.delete(records.lease_key(network.id, address))

    async def drop_all(self, network_id: str) -> None:
        for entry in await self._store.get_prefix(records.lease_prefix(network_id)):
            await self._store.delete(entry.key)
        self._locks.pop(network_id, None)
