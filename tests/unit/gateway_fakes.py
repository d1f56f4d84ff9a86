"""Fakes of the gateway's small backend interfaces, and an app served in-process.

Unit tests of the gateway need no cluster: ``create_app`` takes these in place
of the gRPC clients and the etcd store.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import create_app
from gateway.backends import Backends
from gateway.sysinfo import HostFacts
from services.cgroupd.hostinfo import CgroupHostInfo
from services.cgroupd.manager import CgroupState
from services.cgroupd.records import CgroupRecord
from services.cgroupd.resources import Resources, merge_update
from services.cgroupd.stats import StatsSample
from services.common.config import DaemonConfig
from services.common.errors import (
    Conflict,
    DockyardError,
    Forbidden,
    InvalidArgument,
    NotFound,
    Unauthorized,
    Unavailable,
)
from services.common.etcd_store import Absent, AtRevision, Condition, Entry, Put, Write
from services.execd.client import RuntimeInfo
from services.execd.runtimes import ComponentVersion, OciRuntime
from services.imaged.client import PreparedSnapshot
from services.imaged.models import (
    CommitOptions,
    CopyMount,
    DeleteItem,
    Filters,
    HistoryEntry,
    ImageDetails,
    ImageSummary,
    ImportOptions,
    PathStat,
    PruneResult,
    SnapshotChange,
)
from services.imaged.registry.models import (
    DistributionInfo,
    LoginResult,
    Platform,
    ProgressEvent,
    RegistryAuth,
    SearchResult,
)
from services.imaged.storeinfo import StoreInfo
from services.imaged.volumes.models import Volume, VolumePruneResult, VolumeSpec
from services.netd.hostinfo import NetworkInfo
from services.netd.models import (
    AttachedEndpoint,
    EndpointRequest,
    InterfaceStats,
    Network,
    NetworkSpec,
    Sandbox,
)
from services.netd.models import Filters as NetworkFilters

HOST = HostFacts(
    kernel_version="6.1.0-test",
    operating_system="Debian GNU/Linux 12 (bookworm)",
    os_version="12",
    machine="x86_64",
    go_arch="amd64",
    ncpu=4,
    mem_total=8 * 1024**3,
)

CONFIG = DaemonConfig(
    data_root="/var/lib/dockyard-test",
    exec_root="/run/dockyard-test",
    etcd_endpoints=("http://127.0.0.1:2379",),
)


def _down(part: str) -> Unavailable:
    return Unavailable(f"{part}: connection refused")


class FakeStore:
    """etcd in memory: ``values`` by key, with a revision per write as etcd keeps."""

    def __init__(self, *, down: bool = False) -> None:
        self.values: dict[str, bytes] = {}
        self.revisions: dict[str, int] = {}
        self.revision = 1
        self.down = down

    async def version(self) -> str:
        if self.down:
            raise _down("etcd")
        return "3.4.23"

    async def get(self, key: str) -> Entry | None:
        value = self.values.get(key)
        return None if value is None else Entry(key, value, self.revisions.get(key, 1))

    async def get_prefix(self, prefix: str) -> list[Entry]:
        return [Entry(k, v, self.revisions.get(k, 1))
                for k, v in sorted(self.values.items()) if k.startswith(prefix)]

    async def create(self, key: str, value: bytes) -> bool:
        return await self.commit([Absent(key)], [Put(key, value)])

    async def commit(self, conditions: Sequence[Condition], writes: Sequence[Write]) -> bool:
        for condition in conditions:
            if isinstance(condition, Absent) and condition.key in self.values:
                return False
            if isinstance(condition, AtRevision) and (
                # As etcd: a key that is gone is at no revision (tests remove keys by hand).
                condition.key not in self.values
                or self.revisions.get(condition.key, 1) != condition.mod_revision
            ):
                return False
        self.revision += 1
        for write in writes:
            if isinstance(write, Put):
                self.values[write.key] = write.value
                self.revisions[write.key] = self.revision
            else:
                self.values.pop(write.key, None)
                self.revisions.pop(write.key, None)
        return True


class FakeImages:
    """imaged in memory: ``images`` by ID, ``tags`` familiar name:tag → ID; calls recorded."""

    def __init__(self, *, down: bool = False) -> None:
        self.down = down
        self.images: dict[str, ImageDetails] = {}
        self.tags: dict[str, str] = {}
        self.calls: list[tuple[str, Any]] = []
        self.imported: list[tuple[ImportOptions, bytes]] = []
        self.container_files: dict[str, dict[str, bytes]] = {}
        """Files of prepared snapshots: container ID → path → bytes."""
        self.snapshots: dict[str, str] = {}
        """Prepared snapshots: container ID → image ID."""

    def _find(self, name: str) -> ImageDetails:
        image_id = self.tags.get(name if ":" in name else f"{name}:latest", name)
        if image_id not in self.images:
            raise NotFound(f"No such image: {name if ':' in name else name + ':latest'}")
        return self.images[image_id]

    async def import_image(self, options: ImportOptions, chunks: AsyncIterable[bytes]) -> str:
        body = b"".join([chunk async for chunk in chunks])
        self.imported.append((options, body))
        return "sha256:" + "ab" * 32

    async def list_images(
        self, filters: Filters | None = None, all_images: bool = False
    ) -> list[ImageSummary]:
        self.calls.append(("list", (dict(filters or {}), all_images)))
        return [
            ImageSummary(id=i.id, parent_id="", repo_tags=i.repo_tags,
                         repo_digests=i.repo_digests, created=1704067200, size=i.size)
            for i in self.images.values()
        ]

    async def inspect_image(self, name: str) -> ImageDetails:
        return self._find(name)

    async def image_history(self, name: str) -> list[HistoryEntry]:
        image = self._find(name)
        return [HistoryEntry(id=image.id, created=1704067200, created_by="",
                             tags=image.repo_tags, size=image.size, comment="Imported from -")]

    async def tag_image(self, source: str, repo: str, tag: str) -> None:
        self.tags[f"{repo}:{tag or 'latest'}"] = self._find(source).id

    async def remove_image(
        self, name: str, *, force: bool = False, no_prune: bool = False
    ) -> tuple[DeleteItem, ...]:
        self.calls.append(("remove", (name, force, no_prune)))
        image = self._find(name)
        del self.images[image.id]
        return (DeleteItem(untagged=name), DeleteItem(deleted=image.id))

    async def prune_images(self, filters: Filters | None = None) -> PruneResult:
        self.calls.append(("prune", dict(filters or {})))
        return PruneResult(deleted=(), space_reclaimed=0)

    async def save_images(self, names: Sequence[str]) -> AsyncIterator[bytes]:
        """A stand-in archive: the saved IDs, one chunk each; unknown names fail first."""
        found = [self._find(name).id for name in names]
        self.calls.append(("save", list(names)))
        for image_id in found:
            yield image_id.encode()

    async def load_images(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[str]:
        """Loads "archives" whose body is a tag; a body starting with "bad" is refused."""
        body = b"".join([chunk async for chunk in chunks]).decode()
        if body.startswith("bad"):
            raise InvalidArgument(f"invalid tar archive: {body}")
        yield f"Loaded image: {body}\n"

    async def prepare_snapshot(self, container_id: str, image: str) -> PreparedSnapshot:
        self.calls.append(("prepare_snapshot", (container_id, image)))
        if container_id in self.snapshots:
            raise Conflict(f"snapshot for container {container_id} already exists")
        image_id = self._find(image).id
        self.snapshots[container_id] = image_id
        rootfs = Path(f"{CONFIG.data_root}/overlay2/{container_id}/merged")
        return PreparedSnapshot(rootfs, image_id)

    async def remove_snapshot(self, container_id: str) -> None:
        self.calls.append(("remove_snapshot", container_id))
        if self.snapshots.pop(container_id, None) is None:
            raise NotFound(f"no snapshot for container {container_id}")

    def _snapshot_files(self, container_id: str) -> dict[str, bytes]:
        if container_id not in self.snapshots:
            raise NotFound(f"no snapshot for container {container_id}")
        return self.container_files.setdefault(container_id, {})

    async def snapshot_changes(self, container_id: str) -> list[SnapshotChange]:
        return [SnapshotChange(path, 1) for path in sorted(self._snapshot_files(container_id))]

    async def stat_container_path(
        self, container_id: str, path: str, container: str, pid: int = 0, *,
        mounts: Sequence[CopyMount] = (),
    ) -> PathStat:
        files = self._snapshot_files(container_id)
        if path not in files:
            raise NotFound(f"Could not find the file {path} in container {container}")
        return PathStat(name=path.rsplit("/", 1)[-1], size=len(files[path]), mode=0o644,
                        mtime="2026-01-01T00:00:00Z", link_target="")

    async def read_container_archive(
        self, container_id: str, path: str, container: str, pid: int = 0, *,
        mounts: Sequence[CopyMount] = (),
    ) -> AsyncIterator[bytes]:
        """A stand-in archive: the file's bytes."""
        await self.stat_container_path(container_id, path, container)
        yield self.container_files[container_id][path]

    async def write_container_archive(
        self, container_id: str, path: str, container: str, chunks: AsyncIterable[bytes],
        *, no_overwrite_dir_non_dir: bool = False, owner: tuple[int, int] | str | None = None,
        pid: int = 0, mounts: Sequence[CopyMount] = (),
    ) -> None:
        """Stores the whole body as the file ``path``."""
        files = self._snapshot_files(container_id)
        files[path] = b"".join([chunk async for chunk in chunks])
        self.calls.append(("write_archive", (container_id, path, no_overwrite_dir_non_dir,
                                             owner)))

    async def export_container(self, container_id: str) -> AsyncIterator[bytes]:
        for content in self._snapshot_files(container_id).values():
            yield content

    async def commit_container(self, request: CommitOptions) -> str:
        self._snapshot_files(request.container_id)
        self.calls.append(("commit", request))
        return "sha256:" + "c" * 64

    async def get_store_info(self) -> StoreInfo:
        if self.down:
            raise _down("imaged")
        return StoreInfo(
            driver="overlay2",
            driver_status=(("Backing Filesystem", "extfs"), ("Supports d_type", "true")),
            image_count=3,
            data_root=CONFIG.data_root,
        )


class FakeNetworks:
    """netd in memory: ``networks`` by ID; create/remove calls recorded."""

    def __init__(self, *, down: bool = False) -> None:
        self.down = down
        self.networks: dict[str, Network] = {}
        self.created: list[NetworkSpec] = []
        self.filters: list[NetworkFilters] = []
        self.sandboxes: dict[str, Sandbox] = {}
        """Running containers' sandboxes by container ID (tests put them here)."""
        self.counters: dict[str, dict[str, InterfaceStats]] = {}
        """Interface counters of containers' sandboxes (tests put them here)."""

    def _find(self, ref: str) -> Network:
        for network in self.networks.values():
            if ref in (network.id, network.name):
                return network
        raise NotFound(f"network {ref} not found")

    async def create_network(self, spec: NetworkSpec) -> Network:
        self.created.append(spec)
        if any(n.name == spec.name for n in self.networks.values()):
            raise Conflict(f"network with name {spec.name} already exists")
        network = Network(
            id=f"{len(self.networks) + 1:064x}", name=spec.name, driver=spec.driver,
            created="2024-01-01T00:00:00.123456789Z", internal=spec.internal,
            ipam_config=spec.ipam_config, options=dict(spec.options),
            labels=dict(spec.labels),
        )
        self.networks[network.id] = network
        return network

    async def inspect_network(self, ref: str) -> Network:
        return self._find(ref)

    async def list_networks(self, filters: NetworkFilters | None = None) -> list[Network]:
        self.filters.append(dict(filters or {}))
        return list(self.networks.values())

    async def remove_network(self, ref: str) -> None:
        del self.networks[self._find(ref).id]

    async def prune_networks(self, filters: NetworkFilters | None = None) -> list[str]:
        self.filters.append(dict(filters or {}))
        names = [n.name for n in self.networks.values() if not n.builtin]
        self.networks = {k: n for k, n in self.networks.items() if n.builtin}
        return names

    def _sandbox(self, container_id: str) -> Sandbox:
        if container_id not in self.sandboxes:
            raise NotFound(f"no network sandbox for container {container_id}")
        return self.sandboxes[container_id]

    async def get_sandbox(self, container_id: str) -> Sandbox:
        return self._sandbox(container_id)

    async def connect_container(self, container_id: str, request: EndpointRequest) -> Sandbox:
        sandbox, network = self._sandbox(container_id), self._find(request.network)
        if any(e.network_id == network.id for e in sandbox.endpoints):
            raise Forbidden(f"endpoint with name x already exists in network {network.name}")
        n = len(sandbox.endpoints)
        endpoint = AttachedEndpoint(
            network.id, network.name, f"{n + 1:064x}", request.ipv4_address or f"10.9.0.{n + 2}",
            24, "10.9.0.1", "02:42:0a:09:00:02", aliases=request.aliases,
            dns_names=(*request.aliases, container_id[:12]), interface=f"eth{n}")
        sandbox = replace(sandbox, endpoints=(*sandbox.endpoints, endpoint))
        self.sandboxes[container_id] = sandbox
        return sandbox

    async def disconnect_container(self, container_id: str, network: str,
                                   force: bool = False) -> Sandbox:
        sandbox, found = self._sandbox(container_id), self._find(network)
        rest = tuple(e for e in sandbox.endpoints if e.network_id != found.id)
        if len(rest) == len(sandbox.endpoints) and not force:
            raise Forbidden(f"container {container_id} is not connected to network {found.name}")
        sandbox = replace(sandbox, endpoints=rest)
        self.sandboxes[container_id] = sandbox
        return sandbox

    async def check_endpoint(self, request: EndpointRequest,
                             joined_networks: tuple[str, ...] = ()) -> Network:
        network = self._find(request.network)
        if any(self._find(j).id == network.id for j in joined_networks):
            raise Forbidden(f"endpoint with name x already exists in network {network.name}")
        return network

    async def rename_sandbox(self, container_id: str, name: str) -> Sandbox:
        sandbox = self._sandbox(container_id)
        sandbox = replace(sandbox, endpoints=tuple(
            replace(e, dns_names=(name, *e.dns_names[1:])) for e in sandbox.endpoints))
        self.sandboxes[container_id] = sandbox
        return sandbox

    async def sandbox_stats(self, container_id: str) -> dict[str, InterfaceStats]:
        if container_id not in self.counters:
            raise NotFound(f"no network sandbox for container {container_id}")
        return self.counters[container_id]

    async def get_network_info(self) -> NetworkInfo:
        if self.down:
            raise _down("netd")
        return NetworkInfo(
            drivers=("bridge", "host", "null"),
            bridge_name="dockyard0",
            ipv4_forwarding=True,
            iptables=True,
            bridge_nf_iptables=True,
            bridge_nf_ip6tables=False,
        )


class FakeVolumes:
    """imaged's Volumes in memory: ``volumes`` by name; calls recorded."""

    def __init__(self) -> None:
        self.volumes: dict[str, Volume] = {}
        self.calls: list[tuple[str, Any]] = []

    async def create_volume(self, spec: VolumeSpec) -> Volume:
        self.calls.append(("create", spec))
        name = spec.name or "ab" * 32
        volume = self.volumes.setdefault(name, Volume(
            name=name, driver="local", mountpoint=f"{CONFIG.data_root}/volumes/{name}/_data",
            created_at="2024-01-01T00:00:00Z", labels=spec.labels, options=spec.driver_opts,
        ))
        return volume

    async def inspect_volume(self, name: str) -> Volume:
        if name not in self.volumes:
            raise NotFound(f"get {name}: no such volume")
        return self.volumes[name]

    async def list_volumes(self, filters: Filters | None = None) -> list[Volume]:
        self.calls.append(("list", dict(filters or {})))
        return sorted(self.volumes.values(), key=lambda v: v.name)

    async def remove_volume(self, name: str, *, force: bool = False) -> None:
        self.calls.append(("remove", (name, force)))
        volume = self.volumes.get(name)
        if volume is None:
            if force:
                return
            raise NotFound(f"get {name}: no such volume")
        if volume.users:
            raise Conflict(f"remove {name}: volume is in use - [{', '.join(volume.users)}]")
        del self.volumes[name]

    async def reference_volume(self, name: str, container_id: str) -> None:
        self.calls.append(("reference", (name, container_id)))
        volume = await self.inspect_volume(name)
        if container_id not in volume.users:
            self.volumes[name] = replace(volume, users=(*volume.users, container_id))

    async def release_volume(self, name: str, container_id: str) -> None:
        self.calls.append(("release", (name, container_id)))
        volume = self.volumes.get(name)
        if volume is not None:
            users = tuple(u for u in volume.users if u != container_id)
            self.volumes[name] = replace(volume, users=users)

    async def prune_volumes(self, filters: Filters | None = None) -> VolumePruneResult:
        self.calls.append(("prune", dict(filters or {})))
        gone = sorted(n for n, v in self.volumes.items() if not v.users and v.anonymous)
        for name in gone:
            del self.volumes[name]
        return VolumePruneResult(tuple(gone), 0)


class FakeCgroups:
    def __init__(self, *, down: bool = False) -> None:
        self.down = down
        self.samples: dict[str, list[StatsSample]] = {}
        """Samples each container's reads return in turn (the last one repeats)."""
        self.resources: dict[str, Resources] = {}
        """Live limits of containers with a cgroup; update_resources merges into them."""
        self.refusal: DockyardError | None = None
        """Raised by the next update_resources, as the kernel's refusal would be."""

    def _next_sample(self, container_id: str) -> StatsSample:
        queue = self.samples.get(container_id)
        if not queue:
            raise NotFound(f"no cgroup for container {container_id}")
        return queue.pop(0) if len(queue) > 1 else queue[0]

    async def get_stats(
        self, container_id: str, *, one_shot: bool = False
    ) -> tuple[StatsSample, StatsSample | None]:
        first = self._next_sample(container_id)
        if one_shot:
            return first, None
        return self._next_sample(container_id), first

    async def update_resources(self, container_id: str, change: Resources) -> CgroupState:
        if container_id not in self.resources:
            raise NotFound(f"no cgroup for container {container_id}")
        if self.refusal is not None:
            refusal, self.refusal = self.refusal, None
            raise refusal
        merged = merge_update(self.resources[container_id], change)
        self.resources[container_id] = merged
        record = CgroupRecord(container_id=container_id, name="", parent="dockyard",
                              path=f"dockyard/{container_id}", resources=merged)
        return CgroupState(record=record, cgroups_path=f"/dockyard/{container_id}",
                           freeze_state="thawed", pids=())

    async def get_host_info(self) -> CgroupHostInfo:
        if self.down:
            raise _down("cgroupd")
        return CgroupHostInfo(
            driver="cgroupfs", version="2", parent="dockyard", memory_limit=True,
            swap_limit=True, cpu_cfs_period=True, cpu_cfs_quota=True, cpu_shares=True,
            cpuset=True, pids_limit=True, oom_kill_disable=False, kernel_memory_tcp=False,
        )


class FakeRuntime:
    def __init__(self, *, down: bool = False) -> None:
        self.down = down

    async def get_runtime_info(self) -> RuntimeInfo:
        if self.down:
            raise _down("execd")
        return RuntimeInfo(
            runtimes=(
                OciRuntime(
                    name="runc",
                    path="/usr/sbin/runc",
                    version=ComponentVersion("runc", "1.1.5", {"commit": "v1.1.5-0-gf19387a"}),
                ),
            ),
            default_runtime="runc",
            monitor=ComponentVersion("conmon", "2.1.6", {"commit": "abc123"}),
            containers_running=2,
            containers_paused=1,
            containers_stopped=4,
        )


class FakeDistribution:
    """Registry calls: pull/push replay ``events``, then raise ``fail`` when set.

    ``fail_first`` raises before any event (an error the gateway answers as
    plain HTTP); ``calls`` records (operation, arguments) for assertions.
    """

    def __init__(self) -> None:
        self.events: list[ProgressEvent] = []
        self.fail: DockyardError | None = None
        self.fail_first: DockyardError | None = None
        self.calls: list[tuple[str, tuple[Any, ...]]] = []
        self.login_ok = True
        self.search_results: list[SearchResult] = []
        self.info = DistributionInfo("application/vnd.oci.image.index.v1+json",
                                     "sha256:" + "ab" * 32, 321,
                                     (Platform("amd64", "linux"), Platform("arm64", "linux",
                                                                           variant="v8")))

    async def _replay(self) -> AsyncIterator[ProgressEvent]:
        if self.fail_first is not None:
            raise self.fail_first
        for event in self.events:
            yield event
        if self.fail is not None:
            raise self.fail

    def pull_image(self, image: str, tag: str = "", platform: str = "",
                   auth: RegistryAuth | None = None) -> AsyncIterator[ProgressEvent]:
        self.calls.append(("pull", (image, tag, platform, auth)))
        return self._replay()

    def push_image(self, name: str, tag: str = "",
                   auth: RegistryAuth | None = None) -> AsyncIterator[ProgressEvent]:
        self.calls.append(("push", (name, tag, auth)))
        return self._replay()

    async def check_auth(self, auth: RegistryAuth) -> LoginResult:
        self.calls.append(("auth", (auth,)))
        if not self.login_ok:
            raise Unauthorized("login attempt to http://r/v2/ failed with status: "
                               "401 Unauthorized")
        return LoginResult("Login Succeeded")

    async def get_distribution(self, name: str,
                               auth: RegistryAuth | None = None) -> DistributionInfo:
        self.calls.append(("distribution", (name, auth)))
        return self.info

    async def search_images(self, term: str, limit: int = 0, filters: Filters | None = None,
                            auth: RegistryAuth | None = None) -> list[SearchResult]:
        self.calls.append(("search", (term, limit, filters, auth)))
        return list(self.search_results)


def fake_backends(down: Iterable[str] = (), store: FakeStore | None = None) -> Backends:
    """Backends where each part named in ``down`` raises Unavailable."""
    off = set(down)
    return Backends(
        store=store or FakeStore(down="etcd" in off),
        images=FakeImages(down="imaged" in off),
        networks=FakeNetworks(down="netd" in off),
        cgroups=FakeCgroups(down="cgroupd" in off),
        runtime=FakeRuntime(down="execd" in off),
        volumes=FakeVolumes(),
        distribution=FakeDistribution(),
    )


def make_app(
    backends: Backends | None = None, config: DaemonConfig = CONFIG
) -> web.Application:
    return create_app(config, backends=backends or fake_backends(), host_facts=HOST)


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async with TestClient(TestServer(app)) as client:
        yield client
