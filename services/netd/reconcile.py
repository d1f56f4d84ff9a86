"""Start-up reconcile: make the kernel match etcd, and remove what netd left behind.

Run once before netd serves. It only ever deletes links carrying this
cluster's mark, rules in this cluster's chains tagged with a network or
sandbox of this cluster, namespace files under this cluster's exec-root and
its own records, so a Docker or another Dockyard cluster on the host keeps
every link, namespace and rule. Networks whose kernel side is gone (a reboot,
an admin's ``ip link del``) are rebuilt from their records; sandboxes whose
namespace is gone (a reboot) are released, since no process can be in them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
from pathlib import Path

from services.common.errors import DockyardError
from services.common.records import load_record
from services.netd import bridges, iptables, netlink, nsfs, records, sandbox_records, veth
from services.netd.networks import NetworkManager
from services.netd.rules import network_tag, sandbox_tag
from services.netd.sandboxes import SandboxManager

log = logging.getLogger(__name__)


async def reconcile(manager: NetworkManager, sandboxes: SandboxManager) -> None:
    settings = manager.settings
    if settings.iptables:
        await iptables.ensure_chains(settings.chains)
    await manager.ensure_builtins()
    networks = await manager.records()
    devices = {n.id: n.bridge_device for n in networks}
    await sandboxes.learn_networks()
    live = await _load_sandboxes(sandboxes)

    for link in await netlink.owned_links(settings.owner):
        if devices.get(link.network_id) != link.name:
            mark = netlink.network_mark(settings.owner, link.network_id)
            if await netlink.delete_link(link.name, mark):
                log.info("removed orphan link", extra={"link": link.name})
    if settings.iptables:
        tags = {network_tag(settings.chains, n.id) for n in networks}
        tags |= {sandbox_tag(settings.chains, cid) for cid in live}
        removed = await iptables.remove_orphans(settings.chains, tags)
        if removed:
            log.info("removed orphan rules", extra={"count": removed})

    for network in networks:
        try:
            await bridges.apply(network, settings)
        except DockyardError as exc:
            # One broken network must not keep netd (and every other network) down.
            log.error("cannot restore network",
                      extra={"network": network.name, "error": exc.message})

    await _restore_sandboxes(sandboxes)
    await _remove_sandbox_orphans(sandboxes)

    # Leases and names whose network record is gone (a crash mid-removal).
    for entry in await manager.store.get_prefix(records.IPAM):
        if entry.key[len(records.IPAM):].partition("/")[0] not in devices:
            await manager.store.delete(entry.key)
    for entry in await manager.store.get_prefix(records.NAMES):
        if records.load_name(entry.value) not in devices:
            await manager.store.delete(entry.key)


async def _load_sandboxes(sandboxes: SandboxManager) -> set[str]:
    """Read every sandbox record; release those whose namespace is gone. The live IDs."""
    store = sandboxes.store
    for entry in await store.get_prefix(sandbox_records.SANDBOXES):
        try:
            record = sandbox_records.load(entry.value)
        except DockyardError as exc:
            log.error("dropping unreadable sandbox record",
                      extra={"key": entry.key, "error": exc.message})
            await store.delete(entry.key)
            continue
        path = record.sandbox.netns_path
        sandboxes.records[record.spec.container_id] = record
        if path and not nsfs.is_namespace(Path(path)):
            log.info("releasing sandbox whose namespace is gone",
                     extra={"container": record.spec.container_id[:12]})
            await sandboxes.remove(record.spec.container_id)
    return set(sandboxes.records)


async def _restore_sandboxes(sandboxes: SandboxManager) -> None:
    """Hold the published host ports again and make sure their rules are in place."""
    settings = sandboxes.settings
    present = await veth.owned(settings.owner)
    for cid, record in sandboxes.records.items():
        for endpoint in record.sandbox.endpoints:
            if endpoint.host_interface not in present:
                log.warning("endpoint interface is gone", extra={
                    "container": cid[:12], "network": endpoint.network_name,
                    "link": endpoint.host_interface})
        for port in record.sandbox.ports:
            try:
                sandboxes.ports.hold(cid, port)
            except DockyardError as exc:
                log.error("cannot hold published port again",
                          extra={"container": cid[:12], "error": exc.message})
        if settings.iptables and record.sandbox.ports:
            await iptables.add_rules(
                sandboxes.published_rules(cid, record.sandbox, record.sandbox.ports))
    await sandboxes.refresh_names()


async def _remove_sandbox_orphans(sandboxes: SandboxManager) -> None:
    settings, store = sandboxes.settings, sandboxes.store
    live = sandboxes.records
    wanted_links = {e.host_interface for r in live.values() for e in r.sandbox.endpoints}
    for name, cid in (await veth.owned(settings.owner)).items():
        mark = veth.sandbox_mark(settings.owner, cid)
        if name not in wanted_links and await veth.unplug(name, mark):
            log.info("removed orphan veth", extra={"link": name})
    if sandboxes.netns_dir.is_dir():
        for path in sandboxes.netns_dir.iterdir():
            if path.name not in live:
                with contextlib.suppress(DockyardError):
                    await nsfs.remove(path)
                    log.info("removed orphan namespace", extra={"path": str(path)})
    if sandboxes.files_dir.is_dir():
        for path in sandboxes.files_dir.iterdir():
            if path.name not in live:
                await asyncio.to_thread(shutil.rmtree, path, True)
    for entry in await store.get_prefix(records.ENDPOINTS):
        cid = entry.key.rpartition("/")[2]
        if cid not in live:
            await store.delete(entry.key)
    addresses = {(e.network_id, e.ip_address) for r in live.values() for e in r.sandbox.endpoints}
    for entry in await store.get_prefix(records.IPAM):
        owner = str(load_record(entry.value, "lease").get("owner", ""))
        if not owner.startswith(sandbox_records.LEASE_OWNER_PREFIX):
            continue  # an AllocateAddress caller's lease: not a sandbox's to judge
        network_id, _, address = entry.key[len(records.IPAM):].partition("/")
        if (network_id, address) not in addresses:
            await store.delete(entry.key)
