"""Address leases in etcd: each one is a create-if-absent key, so none is handed out twice.

netd is the only writer of lease keys, so it keeps the taken addresses of each
network in memory (read from etcd once): an allocation picks the next free
address and marks it taken under a per-network lock, then writes the key with
the lock released, so concurrent starts do not queue behind each other's etcd
round trips. The etcd transaction still guarantees uniqueness: an address
another writer holds is skipped and marked taken. A sandbox reserves its
addresses (:meth:`LeaseBook.reserve`) and writes their keys in the one
transaction that records it.
"""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Address

from services.common.errors import Conflict, InvalidArgument, Unavailable
from services.common.etcd_store import Delete, Put, Store
from services.netd import ipam, records
from services.netd.models import Lease, Network


class LeaseBook:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._locks: dict[str, asyncio.Lock] = {}
        self._taken: dict[str, set[IPv4Address]] = {}

    def _lock(self, network_id: str) -> asyncio.Lock:
        return self._locks.setdefault(network_id, asyncio.Lock())

    async def _taken_on(self, network_id: str) -> set[IPv4Address]:
        """The taken addresses of a network (call under its lock): etcd's, read once."""
        taken = self._taken.get(network_id)
        if taken is None:
            prefix = records.lease_prefix(network_id)
            taken = {IPv4Address(e.key[len(prefix):])
                     for e in await self._store.get_prefix(prefix)}
            self._taken[network_id] = taken
        return taken

    async def reserve(self, network: Network, owner: str, requested: str = "") -> tuple[Lease, Put]:
        """Mark an address taken (``requested``, or the next free one) in memory only.

        The caller writes the returned lease key with an :class:`Absent` condition
        on it, or gives the address back with :meth:`released` when it does not.
        """
        pool = network.pool
        if pool is None:
            raise Conflict(f"network {network.name} has no address pool to allocate from")
        subnet = ipam.v4_subnet(pool)
        wanted = ipam.check_requested(pool, requested) if requested else None
        async with self._lock(network.id):
            taken = await self._taken_on(network.id)
            address = wanted if wanted is not None else ipam.next_free(pool, taken)
            if address is None:
                raise Unavailable(
                    "no available IPv4 addresses on this network's address pools: "
                    f"{network.name} ({network.id})"
                )
            if address in taken:
                raise Conflict("Address already in use")
            taken.add(address)
        lease = Lease(network.id, str(address), subnet.prefixlen, pool.gateway)
        return lease, Put(records.lease_key(network.id, str(address)), records.dump_lease(owner))

    async def allocate(self, network: Network, owner: str, requested: str = "") -> Lease:
        """Reserve an address and write its lease key at once."""
        while True:
            lease, write = await self.reserve(network, owner, requested)
            try:
                created = await self._store.create(write.key, write.value)
            except BaseException:
                self.released(network.id, lease.address)
                raise
            if created:
                return lease
            # Another writer holds it: it stays marked taken; try the next one.
            if requested:
                raise Conflict("Address already in use")

    async def release(self, network: Network, address: str) -> None:
        await self.release_on(network.id, address)

    async def release_on(self, network_id: str, address: str) -> None:
        """Free ``address`` on the network with this ID (a missing lease is fine)."""
        write = self.release_write(network_id, address)
        await self._store.delete(write.key)
        self.released(network_id, address)

    def release_write(self, network_id: str, address: str) -> Delete:
        """The deletion that frees ``address``, for a caller's own transaction; call
        :meth:`released` once it is committed (until then the address stays taken)."""
        try:
            IPv4Address(address)
        except ValueError:
            raise InvalidArgument(f"invalid IPv4 address: {address}") from None
        return Delete(records.lease_key(network_id, address))

    def released(self, network_id: str, address: str) -> None:
        """Hand ``address`` out again: its lease key was deleted."""
        self._taken.get(network_id, set()).discard(IPv4Address(address))

    async def drop_all(self, network_id: str) -> None:
        for entry in await self._store.get_prefix(records.lease_prefix(network_id)):
            await self._store.delete(entry.key)
        self._locks.pop(network_id, None)
        self._taken.pop(network_id, None)
