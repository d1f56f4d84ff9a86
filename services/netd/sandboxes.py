"""Sandboxes: a container's network namespace, its endpoints, files, ports and names.

Every change runs under a per-container lock and undoes its own steps when a
later one fails, so a failed create leaves no namespace, veth, lease, rule,
held port, file or record behind. The in-memory map of sandboxes mirrors the
etcd records (netd is their only writer); the embedded DNS answers from it.

Removing a sandbox unmounts its namespace: the kernel then deletes the
namespace and the veth pairs in it on its own, without the ~25 ms RCU wait a
veth deletion costs its caller. Should a process still hold the namespace,
a background task deletes the host ends explicitly.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import secrets
import shutil
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from ipaddress import IPv4Address
from pathlib import Path

from services.common.errors import (
    Conflict,
    DockyardError,
    Forbidden,
    InvalidArgument,
    NotFound,
)
from services.common.etcd_store import Absent, Condition, Delete, Put, Store, Write
from services.common.timing import timed
from services.netd import (
    bridges,
    dnsindex,
    etcfiles,
    ipam,
    iptables,
    nsfs,
    records,
    rules,
    sandbox_records,
    veth,
)
from services.netd.dnsindex import NameIndex
from services.netd.models import (
    BRIDGE,
    HOST,
    NULL,
    OPT_ENABLE_ICC,
    OPT_MTU,
    AttachedEndpoint,
    Endpoint,
    EndpointRequest,
    InterfaceStats,
    Network,
    PortBinding,
    Sandbox,
    SandboxSpec,
)
from services.netd.networks import NetworkManager
from services.netd.ports import PortBook, normalise
from services.netd.resolver import Resolver
from services.netd.sandbox_records import SandboxRecord, lease_owner, sandbox_key

log = logging.getLogger(__name__)

_CONTAINER_ID = re.compile(r"^[0-9a-f]{12,64}$")
_MAC = re.compile(r"^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$")
HOST_HOSTS = Path("/etc/hosts")

Undo = Callable[[], Awaitable[None]]


def mac_for(address: str) -> str:
    """dockerd's generated MAC: 02:42 followed by the four bytes of the IPv4 address."""
    return "02:42:" + ":".join(f"{b:02x}" for b in IPv4Address(address).packed)


def new_endpoint_id() -> str:
    return secrets.token_hex(32)


def _mtu(network: Network) -> int | None:
    text = network.options.get(OPT_MTU, "")
    return int(text) if text.isdigit() and int(text) > 0 else None


def _next_ifname(endpoints: Sequence[AttachedEndpoint]) -> str:
    used = {e.interface for e in endpoints}
    n = 0
    while f"eth{n}" in used:
        n += 1
    return f"eth{n}"


def _resolver_of(endpoints: Sequence[AttachedEndpoint]) -> str:
    """The embedded DNS address a sandbox uses: the gateway of its first user-defined
    network; empty on the default bridge alone (no name resolution there)."""
    user = next((e for e in endpoints
                 if e.network_name != dnsindex.DEFAULT_BRIDGE and e.gateway), None)
    return user.gateway if user is not None else ""


def _gateway_endpoint(endpoints: Sequence[AttachedEndpoint],
                      internal: Callable[[str], bool]) -> AttachedEndpoint | None:
    """The endpoint the default route (and published ports) go through: the first one
    on a network with a way out."""
    for endpoint in endpoints:
        if endpoint.gateway and not internal(endpoint.network_id):
            return endpoint
    return None


class _Steps:
    """Undo actions of a multi-step change, run last-first when it fails."""

    def __init__(self) -> None:
        self._undo: list[Undo] = []

    def add(self, undo: Undo) -> None:
        self._undo.append(undo)

    async def rollback(self) -> None:
        for undo in reversed(self._undo):
            try:
                await undo()
            except Exception as exc:  # keep undoing: leave as little as possible
                log.error("undo step failed", extra={"error": str(exc)})


class _Writes:
    """What a sandbox change writes to etcd, gathered for its one transaction at the end:
    one proposal and disk sync on the way of every start, not one per key."""

    def __init__(self) -> None:
        self.conditions: list[Condition] = []
        self.writes: list[Write] = []
        self.refused = False
        """The transaction's conditions failed: nothing of it was written, and a key
        it would have made (a lease) is someone else's."""

    def add(self, write: Write, *, absent: bool = False) -> None:
        self.writes.append(write)
        if absent:
            self.conditions.append(Absent(write.key))


class SandboxManager:
    def __init__(self, networks: NetworkManager, exec_root: Path,
                 resolver_port: int = 53) -> None:
        self.networks = networks
        self.settings = networks.settings
        self.netns_dir = exec_root / "netns"
        self.files_dir = exec_root / "netd" / "sandboxes"
        self.ports = PortBook()
        self.records: dict[str, SandboxRecord] = {}
        self.index = NameIndex()
        self.resolver = Resolver(self._lookup, self._upstreams, resolver_port)
        self._locks: dict[str, asyncio.Lock] = {}
        self._internal: dict[str, bool] = {}
        self._bridges: dict[str, str] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._pending: dict[str, asyncio.Task[None]] = {}

    @property
    def store(self) -> Store:
        return self.networks.store

    # ---- DNS ----------------------------------------------------------------------

    def _lookup(self, asker: str, name: str) -> list[IPv4Address] | None:
        return self.index.lookup(asker, name)

    def _upstreams(self, asker: str) -> Sequence[str]:
        own = self.index.upstreams.get(asker)
        if own:
            return own
        return etcfiles.host_resolv_conf()[1].nameservers

    async def refresh_names(self) -> None:
        """Rebuild the DNS view and listen on exactly the gateways of user networks
        that have endpoints."""
        self.index = NameIndex.build(
            (r.spec, r.sandbox.endpoints) for r in self.records.values()
        )
        wanted = {e.gateway for r in self.records.values() for e in r.sandbox.endpoints
                  if e.network_name != dnsindex.DEFAULT_BRIDGE and e.gateway}
        for address in self.resolver.addresses() - wanted:
            await self.resolver.forget(address)
        for address in sorted(wanted - self.resolver.addresses()):
            await self.resolver.listen(address)

    # ---- paths and files ----------------------------------------------------------

    def netns_path(self, container_id: str) -> Path:
        return self.netns_dir / container_id

    def files_of(self, container_id: str) -> Path:
        return self.files_dir / container_id

    def _lock(self, container_id: str) -> asyncio.Lock:
        return self._locks.setdefault(container_id, asyncio.Lock())

    async def _default_gateway(self) -> str:
        with contextlib.suppress(NotFound):
            pool = (await self.networks.resolve("bridge")).pool
            return pool.gateway if pool is not None else ""
        return ""

    async def _extra_hosts(self, spec: SandboxSpec) -> list[tuple[str, str]]:
        gateway = ""
        if any(e.endswith(":host-gateway") for e in spec.extra_hosts):
            gateway = await self._default_gateway()
        try:
            return [etcfiles.parse_extra_host(e, gateway) for e in spec.extra_hosts]
        except ValueError as exc:
            raise InvalidArgument(str(exc)) from None

    def _link_lines(self, endpoints: Sequence[AttachedEndpoint]) -> list[tuple[str, str]]:
        """/etc/hosts lines of ``--link name:alias`` (alias, the peer's host name, name)."""
        out = []
        for endpoint in endpoints:
            for link in endpoint.links:
                name, _, alias = link.lstrip("/").partition(":")
                peer = self._by_name(name)
                if peer is None:
                    continue
                address = next((e.ip_address for e in peer.sandbox.endpoints
                                if e.network_id == endpoint.network_id), "")
                if address:
                    names = [alias or name, peer.spec.hostname]
                    if (alias or name) != name:
                        names.append(name)
                    out.append((address, " ".join(dict.fromkeys(names))))
        return out

    def _by_name(self, name: str) -> SandboxRecord | None:
        for record in self.records.values():
            if record.spec.container_name == name or record.spec.container_id == name:
                return record
        return None

    async def _write_files(self, spec: SandboxSpec, sandbox: Sandbox, *, create: bool,
                           before: Sandbox | None = None) -> None:
        """Render the container's files; after a connect/disconnect (``before``: the
        sandbox until then) resolv.conf only when its embedded resolver changes."""
        extra = await self._extra_hosts(spec)
        mode = spec.network_mode
        if mode == HOST:
            hosts = etcfiles.host_mode_hosts_text(etcfiles.read_text(HOST_HOSTS), extra)
        else:
            hosts = etcfiles.hosts_text(
                hostname=spec.hostname, domainname=spec.domainname,
                addresses=[e.ip_address for e in sandbox.endpoints],
                extra=extra, links=self._link_lines(sandbox.endpoints),
            )
        etcfiles.write(Path(sandbox.hosts_path), hosts)
        resolver = _resolver_of(sandbox.endpoints)
        if create:
            etcfiles.write(Path(sandbox.hostname_path), spec.hostname + "\n")
        elif before is None or _resolver_of(before.endpoints) == resolver:
            return
        # As dockerd's rebuildDNS: joining the first user-defined network turns the
        # embedded resolver on (it then answers the peers' names), leaving it moves on.
        source, host_conf = etcfiles.host_resolv_conf()
        resolv = etcfiles.resolv_conf_text(
            host_conf, dns=spec.dns, search=spec.dns_search, options=spec.dns_options,
            resolver=resolver, source=source, copy_host=mode == HOST,
        )
        etcfiles.write(Path(sandbox.resolv_conf_path), resolv)

    # ---- reading ------------------------------------------------------------------

    async def get(self, container_id: str) -> Sandbox:
        record = self.records.get(container_id)
        if record is None:
            raise NotFound(f"no network sandbox for container {container_id}")
        return record.sandbox

    async def _save(self, record: SandboxRecord, also: _Writes | None = None) -> None:
        """Write the record, with what ``also`` gathered, in one transaction."""
        put = Put(sandbox_key(record.spec.container_id), sandbox_records.dump(record))
        if also is None or not also.writes:
            await self.store.put(put.key, put.value)
        elif not await self.store.commit(also.conditions, [*also.writes, put]):
            also.refused = True
            raise Conflict("Address already in use")  # a lease key someone else wrote
        self.records[record.spec.container_id] = record

    def _internal_of(self, network_id: str) -> bool:
        return self._internal.get(network_id, False)

    # ---- checking requests --------------------------------------------------------

    async def check_endpoint(self, request: EndpointRequest, *,
                             joined: Sequence[AttachedEndpoint] = (),
                             endpoint_name: str = "") -> Network:
        """The network a request joins, after dockerd's checks (nothing is reserved).

        ``endpoint_name`` is the container's name: dockerd names endpoints after it.
        """
        network = await self.networks.resolve(request.network)
        if network.driver in (HOST, NULL):
            if joined:
                raise Forbidden("container cannot be disconnected from host network or "
                                "connected to host network")
            return network
        if network.driver != BRIDGE:
            raise InvalidArgument(f"network driver {network.driver} is not supported")
        if any(e.network_id == network.id for e in joined):
            raise Forbidden(f"endpoint with name {endpoint_name or network.name} already "
                            f"exists in network {network.name}")
        default = network.name == dnsindex.DEFAULT_BRIDGE
        if request.aliases and default:
            raise InvalidArgument("network-scoped alias is supported only for containers "
                                  "in user defined networks")
        if request.links and not default:
            raise InvalidArgument("links are supported only on the default bridge network")
        if request.ipv4_address:
            if default:
                raise InvalidArgument("user specified IP address is supported on user "
                                      "defined networks only")
            pool = network.pool
            if pool is None:
                raise InvalidArgument(f"network {network.name} has no address pool")
            ipam.check_requested(pool, request.ipv4_address)
        if request.mac_address and not _MAC.match(request.mac_address):
            raise InvalidArgument(f"invalid MAC address: {request.mac_address}")
        return network

    def _check_spec(self, spec: SandboxSpec) -> None:
        if not _CONTAINER_ID.match(spec.container_id):
            raise InvalidArgument(f"invalid container ID {spec.container_id!r}")
        if not spec.hostname:
            raise InvalidArgument("a sandbox needs a host name")
        for entry in spec.extra_hosts:
            if ":" not in entry:
                raise InvalidArgument(f"invalid IP address in add-host: {entry!r}")

    def _bindings(self, spec: SandboxSpec) -> list[PortBinding]:
        bindings = [normalise(b) for b in spec.port_bindings]
        if spec.publish_all:
            bound = {(b.container_port, b.protocol) for b in bindings}
            for port, protocol in spec.exposed_ports:
                if (port, protocol.lower() or "tcp") not in bound:
                    bindings.append(normalise(PortBinding(port, protocol or "tcp")))
        return bindings

    # ---- creating -----------------------------------------------------------------

    async def create(self, spec: SandboxSpec) -> Sandbox:
        self._check_spec(spec)
        async with self._lock(spec.container_id):
            with timed("netd.settle"):
                await self._settle()
            if spec.container_id in self.records:
                raise Conflict(f"container {spec.container_id} already has a network sandbox")
            mode = spec.network_mode
            if mode.startswith("container:"):
                return await self._join_other(spec)
            steps = _Steps()
            try:
                sandbox = await self._create(spec, steps)
            except BaseException:
                await steps.rollback()
                raise
        log.info("sandbox created", extra={"container": spec.container_id[:12],
                                           "mode": spec.network_mode})
        return sandbox

    async def _join_other(self, spec: SandboxSpec) -> Sandbox:
        target = spec.network_mode.partition(":")[2]
        record = self.records.get(target)
        if record is None and len(target) >= 12:
            found = [r for r in self.records.values() if r.spec.container_id.startswith(target)]
            record = found[0] if len(found) == 1 else None
        if record is None:
            raise NotFound(f"cannot join network of a non running container: {target}")
        other = record.sandbox
        return Sandbox(container_id=spec.container_id, netns_path=other.netns_path,
                       hosts_path=other.hosts_path, hostname_path=other.hostname_path,
                       resolv_conf_path=other.resolv_conf_path, sandbox_key=other.sandbox_key,
                       network_mode=spec.network_mode)

    def _requests(self, spec: SandboxSpec) -> tuple[EndpointRequest, ...]:
        if spec.endpoints:
            return spec.endpoints
        return (EndpointRequest(network=spec.network_mode or "bridge"),)

    async def _create(self, spec: SandboxSpec, steps: _Steps) -> Sandbox:
        cid = spec.container_id
        files = self.files_of(cid)
        mode = spec.network_mode or "bridge"
        base = Sandbox(container_id=cid, netns_path="", hosts_path=str(files / "hosts"),
                       hostname_path=str(files / "hostname"),
                       resolv_conf_path=str(files / "resolv.conf"), network_mode=mode)
        networks: list[tuple[EndpointRequest, Network]] = []
        if mode not in (HOST, "none"):
            for request in self._requests(spec):
                network = await self.check_endpoint(
                    request, joined=[AttachedEndpoint(n.id, n.name, "", "", 0, "", "")
                                     for _, n in networks])
                if network.driver == HOST:
                    mode = HOST
                elif network.driver == NULL:
                    mode = "none"
                else:
                    networks.append((request, network))
            if mode in (HOST, "none") and networks:
                raise Forbidden("container cannot be disconnected from host network or "
                                "connected to host network")
        bindings = self._bindings(spec) if mode not in (HOST, "none") else []
        await self._extra_hosts(spec)  # bad --add-host fails before anything is made

        files.mkdir(parents=True, exist_ok=True)
        steps.add(lambda: asyncio.to_thread(shutil.rmtree, files, True))
        if mode == HOST:
            sandbox = replace(base, network_mode=HOST)
            await self._write_files(spec, sandbox, create=True)
            await self._save(SandboxRecord(spec, sandbox))
            return sandbox

        path = self.netns_path(cid)
        with timed("netd.netns_create"):
            ns_fd, ns_sock = await nsfs.create(path)
        steps.add(lambda: self._remove_netns(path))
        writes = _Writes()
        try:
            sandbox = replace(base, netns_path=str(path), sandbox_key=str(path),
                              network_mode=mode)
            if not networks:
                await veth.lo_up(ns_sock)
            endpoints: list[AttachedEndpoint] = []
            for index, (request, network) in enumerate(networks):
                sock = ns_sock if index == 0 else await nsfs.netlink_socket(path)
                endpoint = await self._attach(spec, request, network, ns_fd, sock,
                                              endpoints, steps, writes, first=index == 0)
                endpoints.append(endpoint)
        finally:
            ns_sock.close()
            os.close(ns_fd)
        sandbox = replace(sandbox, endpoints=tuple(endpoints))
        with timed("netd.publish"):
            ports = await self._publish(spec, sandbox, bindings, steps)
        sandbox = replace(sandbox, ports=tuple(ports))
        with timed("netd.write_files"):
            await self._write_files(spec, sandbox, create=True)
        steps.add(lambda: self._forget_record(cid, writes))
        with timed("netd.save"):
            await self._save(SandboxRecord(spec, sandbox), writes)
        with timed("netd.refresh_names"):
            await self.refresh_names()
        return sandbox

    async def _forget_record(self, container_id: str, also: _Writes | None = None) -> None:
        self.records.pop(container_id, None)
        written = [w.key for w in also.writes] if also is not None and not also.refused else []
        await self.store.commit([], [Delete(k) for k in (*written, sandbox_key(container_id))])
        await self.refresh_names()

    async def _attach(
        self, spec: SandboxSpec, request: EndpointRequest, network: Network, ns_fd: int,
        ns_sock: socket.socket, joined: Sequence[AttachedEndpoint], steps: _Steps,
        writes: _Writes, *, first: bool,
    ) -> AttachedEndpoint:
        """Lease, veth, addresses and route of one network; its lease and endpoint
        keys go to ``writes``."""
        cid = spec.container_id
        self._internal[network.id] = network.internal
        self._bridges[network.id] = network.bridge_device
        with timed("netd.lease"):
            lease, lease_write = await self.networks.leases.reserve(
                network, lease_owner(cid), request.ipv4_address)
        steps.add(lambda: self._unreserve(network.id, lease.address, writes))
        writes.add(lease_write, absent=True)
        mac = request.mac_address.lower() or mac_for(lease.address)
        plan = veth.Plug(
            bridge=network.bridge_device, host_name=veth.new_host_name(),
            mark=veth.sandbox_mark(self.settings.owner, cid), ifname=_next_ifname(joined),
            mac=mac, address=lease.address, prefixlen=lease.prefix_length, mtu=_mtu(network),
            isolated=not bridges.option_bool(network, OPT_ENABLE_ICC),
        )
        has_route = _gateway_endpoint(joined, self._internal_of) is not None
        route = "" if network.internal or has_route else lease.gateway
        endpoint = AttachedEndpoint(
            network_id=network.id, network_name=network.name, endpoint_id=new_endpoint_id(),
            ip_address=lease.address, ip_prefix_len=lease.prefix_length,
            gateway=lease.gateway, mac_address=mac, aliases=tuple(request.aliases),
            dns_names=dnsindex.dns_names(spec, request.aliases, network.name),
            links=tuple(request.links), interface=plan.ifname, host_interface=plan.host_name,
        )
        writes.add(Put(records.endpoint_key(network.id, cid), records.dump_endpoint(Endpoint(
            container_id=cid, name=spec.container_name, endpoint_id=endpoint.endpoint_id,
            mac_address=mac, ipv4_address=f"{lease.address}/{lease.prefix_length}",
        ))))
        steps.add(lambda: self._unplug_quiet(plan.host_name, plan.mark))
        with timed("netd.veth_plug"):
            await veth.plug(ns_fd, ns_sock, plan, first=first, gateway=route)
        return endpoint

    async def _unreserve(self, network_id: str, address: str, writes: _Writes) -> None:
        if not writes.refused:  # else the address is someone else's: it stays taken
            self.networks.leases.released(network_id, address)

    async def _remove_netns(self, path: Path) -> None:
        await nsfs.remove(path)

    async def _unplug_quiet(self, host_name: str, mark: str) -> None:
        await veth.unplug(host_name, mark)

    # ---- ports --------------------------------------------------------------------

    def published_rules(self, container_id: str, sandbox: Sandbox,
                   ports: Sequence[PortBinding]) -> list[rules.Rule]:
        endpoint = _gateway_endpoint(sandbox.endpoints, self._internal_of)
        if endpoint is None or not self.settings.iptables:
            return []
        bridge = self._bridge_of(endpoint.network_id)
        out: list[rules.Rule] = []
        for port in ports:
            out += rules.port_rules(self.settings.chains, container_id, rules.PublishedPort(
                protocol=port.protocol, host_ip=port.host_ip, host_port=port.host_port,
                container_ip=endpoint.ip_address, container_port=port.container_port,
                bridge=bridge,
            ))
        return out

    def _bridge_of(self, network_id: str) -> str:
        return self._bridges.get(network_id, "")

    async def _publish(self, spec: SandboxSpec, sandbox: Sandbox,
                       bindings: Sequence[PortBinding], steps: _Steps) -> list[PortBinding]:
        if not bindings:
            return []
        cid = spec.container_id
        steps.add(lambda: self._release_ports(cid))
        made = []
        for binding in bindings:
            try:
                made.append(self.ports.hold(cid, binding))
            except Conflict as exc:
                endpoint = sandbox.endpoints[0] if sandbox.endpoints else None
                where = (f"{spec.container_name} ({endpoint.endpoint_id})"
                         if endpoint is not None else spec.container_name)
                raise Conflict("driver failed programming external connectivity on endpoint "
                               f"{where}: {exc.message}") from None
        port_rules = self.published_rules(cid, sandbox, made)
        await iptables.append_new_rules(port_rules)
        steps.add(lambda: iptables.delete_rules_fast(port_rules))
        return made

    async def _release_ports(self, container_id: str) -> None:
        self.ports.release(container_id)

    # ---- removing -----------------------------------------------------------------

    async def remove(self, container_id: str) -> None:
        async with self._lock(container_id):
            record = self.records.get(container_id)
            if record is None:
                entry = await self.store.get(sandbox_key(container_id))
                if entry is not None:
                    record = sandbox_records.load(entry.value)
            if record is None:
                # Nothing recorded: still clear what a crash mid-create could leave.
                with contextlib.suppress(DockyardError):
                    await nsfs.remove(self.netns_path(container_id))
                await asyncio.to_thread(shutil.rmtree, self.files_of(container_id), True)
                return
            await self._teardown(record)
        self._locks.pop(container_id, None)
        log.info("sandbox removed", extra={"container": container_id[:12]})

    async def _teardown(self, record: SandboxRecord) -> None:
        """Release every part of a sandbox; each step tolerates what is already gone.

        What callers can see goes at once: records, endpoint entries, files,
        namespace, DNS names. Deleting iptables rules costs ~10 ms per rule with
        the nf_tables backend, so published ports' rules are deleted by a
        background task, which only then frees the host ports and addresses: no
        new sandbox can get them while a stale rule still points at the old one.
        Creates wait for such pending releases (see :meth:`_settle`).
        """
        sandbox, cid = record.sandbox, record.spec.container_id
        port_rules = (self.published_rules(cid, sandbox, sandbox.ports)
                      if self.settings.iptables and sandbox.ports else [])
        if sandbox.netns_path:
            await nsfs.remove(Path(sandbox.netns_path))
            if sandbox.endpoints:
                self._spawn(self._reap(sandbox.endpoints, cid))
        self.records.pop(cid, None)
        # One etcd transaction for the record, its endpoints and (without port
        # rules to wait for) its leases, while the files go and DNS forgets it:
        # each separate round trip was on the path of every docker rm.
        leases = self.networks.leases
        writes: list[Write] = [Delete(records.endpoint_key(e.network_id, cid))
                               for e in sandbox.endpoints]
        writes.append(Delete(sandbox_key(cid)))
        if not port_rules:
            writes += [leases.release_write(e.network_id, e.ip_address)
                       for e in sandbox.endpoints]
        await _all_or_first_error(
            self.store.commit([], writes),
            asyncio.to_thread(shutil.rmtree, self.files_of(cid), True),
            self.refresh_names(),
        )
        if port_rules:
            task = asyncio.ensure_future(self._release_later(cid, sandbox, port_rules))
            self._pending[cid] = task
            task.add_done_callback(lambda _: self._pending.pop(cid, None))
        else:
            self.ports.release(cid)
            for endpoint in sandbox.endpoints:
                leases.released(endpoint.network_id, endpoint.ip_address)

    async def _release_later(self, cid: str, sandbox: Sandbox,
                             port_rules: Sequence[rules.Rule]) -> None:
        try:
            await iptables.delete_rules_fast(port_rules)
        except DockyardError as exc:  # reconcile removes them by tag at the next start
            log.error("cannot delete port rules", extra={"container": cid[:12],
                                                         "error": exc.message})
        await self._release_now(cid, sandbox)

    async def _release_now(self, cid: str, sandbox: Sandbox) -> None:
        self.ports.release(cid)
        for endpoint in sandbox.endpoints:
            await self._release(endpoint, cid)

    async def _settle(self) -> None:
        """Wait for background releases, so their ports and addresses are free again."""
        if self._pending:
            await asyncio.gather(*list(self._pending.values()), return_exceptions=True)

    async def _release(self, endpoint: AttachedEndpoint, container_id: str) -> None:
        await self.networks.leases.release_on(endpoint.network_id, endpoint.ip_address)
        await self.store.delete(records.endpoint_key(endpoint.network_id, container_id))

    async def _reap(self, endpoints: Sequence[AttachedEndpoint], container_id: str) -> None:
        # Normally the kernel has already removed them with the namespace; a
        # process still inside keeps the namespace, and then the veths, alive.
        mark = veth.sandbox_mark(self.settings.owner, container_id)
        await asyncio.sleep(0.2)
        for endpoint in endpoints:
            await veth.unplug(endpoint.host_interface, mark)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ---- connect / disconnect -----------------------------------------------------

    async def connect(self, container_id: str, request: EndpointRequest) -> Sandbox:
        async with self._lock(container_id):
            record = self.records.get(container_id)
            if record is None:
                raise NotFound(f"no network sandbox for container {container_id}: "
                               "connect it while it runs, or record the network to join "
                               "at its next start")
            sandbox = record.sandbox
            if not sandbox.netns_path or sandbox.network_mode in (HOST, "none") \
                    or sandbox.network_mode.startswith("container:"):
                raise Forbidden("container cannot be disconnected from host network or "
                                "connected to host network")
            network = await self.check_endpoint(request, joined=sandbox.endpoints,
                                                endpoint_name=record.spec.container_name)
            await self._settle()
            if network.driver != BRIDGE:
                raise Forbidden("container cannot be disconnected from host network or "
                                "connected to host network")
            steps, writes = _Steps(), _Writes()
            try:
                path = Path(sandbox.netns_path)
                ns_fd = nsfs.open_fd(path)
                try:
                    sock = await nsfs.netlink_socket(path)
                    endpoint = await self._attach(record.spec, request, network, ns_fd, sock,
                                                  sandbox.endpoints, steps, writes, first=False)
                finally:
                    os.close(ns_fd)
                sandbox = replace(sandbox, endpoints=(*sandbox.endpoints, endpoint))
                before, record = record.sandbox, SandboxRecord(record.spec, sandbox)
                await self._write_files(record.spec, sandbox, create=False, before=before)
                await self._save(record, writes)
            except BaseException:
                await steps.rollback()
                raise
            await self.refresh_names()
            return sandbox

    async def disconnect(self, container_id: str, ref: str, force: bool = False) -> Sandbox:
        async with self._lock(container_id):
            record = self.records.get(container_id)
            if record is None:
                raise NotFound(f"no network sandbox for container {container_id}")
            network = await self.networks.resolve(ref)
            sandbox = record.sandbox
            endpoint = next((e for e in sandbox.endpoints if e.network_id == network.id), None)
            if endpoint is None:
                if force:
                    return sandbox
                if network.driver in (HOST, NULL):
                    raise Forbidden("container cannot be disconnected from host network or "
                                    "connected to host network")
                raise Forbidden(f"container {container_id} is not connected to network "
                                f"{network.name}")
            old_gateway = _gateway_endpoint(sandbox.endpoints, self._internal_of)
            mark = veth.sandbox_mark(self.settings.owner, container_id)
            moving_ports = old_gateway is endpoint and bool(sandbox.ports)
            if moving_ports:
                await iptables.delete_rules_fast(
                    self.published_rules(container_id, sandbox, sandbox.ports))
            await veth.unplug(endpoint.host_interface, mark)
            await self._release(endpoint, container_id)
            rest = tuple(e for e in sandbox.endpoints if e is not endpoint)
            sandbox = replace(sandbox, endpoints=rest)
            new_gateway = _gateway_endpoint(rest, self._internal_of)
            if old_gateway is endpoint and new_gateway is not None:
                sock = await nsfs.netlink_socket(Path(sandbox.netns_path))
                await veth.set_default_route(sock, new_gateway.interface, new_gateway.gateway)
            if moving_ports:
                await iptables.append_new_rules(
                    self.published_rules(container_id, sandbox, sandbox.ports))
            before, record = record.sandbox, SandboxRecord(record.spec, sandbox)
            await self._write_files(record.spec, sandbox, create=False, before=before)
            await self._save(record)
            await self.refresh_names()
            return sandbox

    # ---- rename -------------------------------------------------------------------

    async def rename(self, container_id: str, name: str) -> Sandbox:
        """Re-derive every endpoint's DNS names from the container's new name.

        The embedded DNS then answers the new name and no longer the old one,
        and the endpoint records (network inspect's ``Containers``) show it.
        """
        if not name or name.startswith("/"):
            raise InvalidArgument(f"invalid container name {name!r}")
        async with self._lock(container_id):
            record = self.records.get(container_id)
            if record is None:
                raise NotFound(f"no network sandbox for container {container_id}")
            spec = replace(record.spec, container_name=name)
            sandbox = replace(record.sandbox, endpoints=tuple(
                replace(e, dns_names=dnsindex.dns_names(spec, e.aliases, e.network_name))
                for e in record.sandbox.endpoints
            ))
            for endpoint in sandbox.endpoints:
                key = records.endpoint_key(endpoint.network_id, container_id)
                entry = await self.store.get(key)
                if entry is not None:
                    renamed = replace(records.load_endpoint(entry.value), name=name)
                    await self.store.put(key, records.dump_endpoint(renamed))
            await self._save(SandboxRecord(spec, sandbox))
            await self.refresh_names()
            log.info("sandbox renamed", extra={"container": container_id[:12], "new_name": name})
            return sandbox

    # ---- stats --------------------------------------------------------------------

    async def stats(self, container_id: str) -> dict[str, InterfaceStats]:
        record = self.records.get(container_id)
        if record is None:
            raise NotFound(f"no network sandbox for container {container_id}")
        if not record.sandbox.netns_path:
            return {}  # host network: the host's interfaces are not the container's
        sock = await nsfs.netlink_socket(Path(record.sandbox.netns_path))
        return await veth.stats(sock)

    # ---- start-up -----------------------------------------------------------------

    async def learn_networks(self) -> None:
        """Cache each network's bridge and internal flag (rules and routes need them)."""
        for network in await self.networks.records():
            self._bridges[network.id] = network.bridge_device
            self._internal[network.id] = network.internal

    async def close(self) -> None:
        await self.resolver.close()
        await self._settle()
        for task in list(self._background):
            task.cancel()


async def _all_or_first_error(*steps: Awaitable[object]) -> None:
    """Run ``steps`` at once and let every one finish; then raise the first failure."""
    outcomes = await asyncio.gather(*steps, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
