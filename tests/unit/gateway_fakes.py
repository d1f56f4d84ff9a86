"""Fakes of the gateway's small backend interfaces, and an app served in-process.

Unit tests of the gateway need no cluster: ``create_app`` takes these in place
of the gRPC clients and the etcd store.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import create_app
from gateway.backends import Backends
from gateway.sysinfo import HostFacts
from services.cgroupd.hostinfo import CgroupHostInfo
from services.common.config import DaemonConfig
from services.common.errors import Conflict, NotFound, Unavailable
from services.common.etcd_store import Entry
from services.execd.client import RuntimeInfo
from services.execd.runtimes import ComponentVersion, OciRuntime
from services.imaged.models import (
    DeleteItem,
    Filters,
    HistoryEntry,
    ImageDetails,
    ImageSummary,
    ImportOptions,
    PruneResult,
)
from services.imaged.storeinfo import StoreInfo
from services.netd.hostinfo import NetworkInfo
from services.netd.models import Filters as NetworkFilters
from services.netd.models import Network, NetworkSpec

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
    def __init__(self, *, down: bool = False) -> None:
        self.values: dict[str, bytes] = {}
        self.down = down

    async def version(self) -> str:
        if self.down:
            raise _down("etcd")
        return "3.4.23"

    async def get(self, key: str) -> Entry | None:
        value = self.values.get(key)
        return None if value is None else Entry(key, value, 1)

    async def create(self, key: str, value: bytes) -> bool:
        if key in self.values:
            return False
        self.values[key] = value
        return True


class FakeImages:
    """imaged in memory: ``images`` by ID, ``tags`` familiar name:tag → ID; calls recorded."""

    def __init__(self, *, down: bool = False) -> None:
        self.down = down
        self.images: dict[str, ImageDetails] = {}
        self.tags: dict[str, str] = {}
        self.calls: list[tuple[str, Any]] = []
        self.imported: list[tuple[ImportOptions, bytes]] = []

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


class FakeCgroups:
    def __init__(self, *, down: bool = False) -> None:
        self.down = down

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


def fake_backends(down: Iterable[str] = (), store: FakeStore | None = None) -> Backends:
    """Backends where each part named in ``down`` raises Unavailable."""
    off = set(down)
    return Backends(
        store=store or FakeStore(down="etcd" in off),
        images=FakeImages(down="imaged" in off),
        networks=FakeNetworks(down="netd" in off),
        cgroups=FakeCgroups(down="cgroupd" in off),
        runtime=FakeRuntime(down="execd" in off),
    )


def make_app(
    backends: Backends | None = None, config: DaemonConfig = CONFIG
) -> web.Application:
    return create_app(config, backends=backends or fake_backends(), host_facts=HOST)


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[TestClient[web.Request, web.Application]]:
    async with TestClient(TestServer(app)) as client:
        yield client
