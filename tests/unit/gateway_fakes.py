"""Fakes of the gateway's small backend interfaces, and an app served in-process.

Unit tests of the gateway need no cluster: ``create_app`` takes these in place
of the gRPC clients and the etcd store.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from gateway.app import create_app
from gateway.backends import Backends
from gateway.sysinfo import HostFacts
from services.cgroupd.hostinfo import CgroupHostInfo
from services.common.config import DaemonConfig
from services.common.errors import Unavailable
from services.common.etcd_store import Entry
from services.execd.client import RuntimeInfo
from services.execd.runtimes import ComponentVersion, OciRuntime
from services.imaged.storeinfo import StoreInfo
from services.netd.hostinfo import NetworkInfo

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
    def __init__(self, *, down: bool = False) -> None:
        self.down = down

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
    def __init__(self, *, down: bool = False) -> None:
        self.down = down

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
