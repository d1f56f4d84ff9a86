"""Start-up reconcile: make the kernel match etcd, and remove what netd left behind.

Run once before netd serves. It only ever deletes links carrying this
cluster's mark and rules in this cluster's chains tagged with a network ID,
so a Docker or another Dockyard cluster on the host keeps every link and rule.
Networks whose kernel side is gone (a reboot, an admin's ``ip link del``) are
rebuilt from their records.
"""

from __future__ import annotations

import logging

from services.common.errors import DockyardError
from services.netd import bridges, iptables, netlink, records
from services.netd.networks import NetworkManager
from services.netd.rules import network_tag

log = logging.getLogger(__name__)


async def reconcile(manager: NetworkManager) -> None:
    settings = manager.settings
    if settings.iptables:
        await iptables.ensure_chains(settings.chains)
    await manager.ensure_builtins()
    networks = await manager.records()
    devices = {n.id: n.bridge_device for n in networks}

    for link in await netlink.owned_links(settings.owner):
        if devices.get(link.network_id) != link.name:
            mark = netlink.network_mark(settings.owner, link.network_id)
            if await netlink.delete_link(link.name, mark):
                log.info("removed orphan link", extra={"link": link.name})
    if settings.iptables:
        removed = await iptables.remove_orphans(
            settings.chains, {network_tag(settings.chains, n.id) for n in networks}
        )
        if removed:
            log.info("removed orphan rules", extra={"count": removed})

    for network in networks:
        try:
            await bridges.apply(network, settings)
        except DockyardError as exc:
            # One broken network must not keep netd (and every other network) down.
            log.error("cannot restore network",
                      extra={"network": network.name, "error": exc.message})

    # Leases and names whose network record is gone (a crash mid-removal).
    for entry in await manager.store.get_prefix(records.IPAM):
        if entry.key[len(records.IPAM):].partition("/")[0] not in devices:
            await manager.store.delete(entry.key)
    for entry in await manager.store.get_prefix(records.NAMES):
        if records.load_name(entry.value) not in devices:
            await manager.store.delete(entry.key)
