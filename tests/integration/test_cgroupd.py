"""cgroupd as a real process on a real etcd, driving the host's real cgroupfs.

Each module run uses its own cgroup parent (``dockyard-test-<hex>``), so nothing
outside it is touched; every directory made under it is removed at the end,
leaf first, in every hierarchy, even when a test fails. Processes placed in
cgroups are started by these tests and killed by their pid.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.cgroupd.client import CgroupsClient
from services.cgroupd.driver import rmdir_tree
from services.cgroupd.hostinfo import cgroup_version
from services.cgroupd.resources import Resources, ThrottleDevice
from services.cgroupd.v1 import discover
from services.cgroupd.v2 import V2Driver
from services.common import errors
from services.common.etcd_store import Store
from services.common.grpc_client import open_channel
from services.common.paths import ClusterPaths
from tests.support.etcd import running_etcd

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root and real cgroups"),
    pytest.mark.skipif(cgroup_version() != "1", reason="this module drives a cgroup v1 host"),
]

ROOT = Path("/sys/fs/cgroup")
MiB = 1024 * 1024


def hierarchies() -> list[Path]:
    return sorted(set(discover(Path("/proc/self/mountinfo").read_text(), ROOT).values()))


def controller(name: str) -> Path:
    return discover(Path("/proc/self/mountinfo").read_text(), ROOT)[name]


def block_device() -> str:
    """A real disk of this host (not loop/ram/zram), for throttle limits."""
    for entry in sorted(Path("/sys/block").iterdir()):
        node = Path("/dev") / entry.name
        if not entry.name.startswith(("loop", "ram", "zram")) and node.exists():
            return str(node)
    pytest.skip("no block device to throttle")


def remove_parent(parent: str) -> None:
    """Leaf-first removal of the test parent in every hierarchy (after its processes died)."""
    for mount in hierarchies():
        with contextlib.suppress(errors.DockyardError):
            rmdir_tree(mount / parent)


@dataclass
class Service:
    paths: ClusterPaths
    parent: str
    etcd_url: str
    orphan: str
    procs: list[subprocess.Popen[bytes]]

    def spawn(self, container_id: str, code: str) -> subprocess.Popen[bytes]:
        """Run ``python3 -c code`` born inside the container's cgroup in every hierarchy,
        so its memory is charged there from the first page."""
        targets = " ".join(
            shlex.quote(str(m / self.parent / container_id / "cgroup.procs"))
            for m in hierarchies())
        # The shell joins first, then execs: no Python runs between fork and exec
        # (a preexec_fn is unsafe in this multi-threaded, gRPC-using test process).
        script = (f"for f in {targets}; do echo $$ > $f; done; "
                  f"exec {shlex.quote(sys.executable)} -c {shlex.quote(code)}")
        proc = subprocess.Popen(["/bin/sh", "-c", script],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    parent = f"dockyard-test-{secrets.token_hex(4)}"
    orphan = "orphan-" + secrets.token_hex(4)
    # A leftover of a previous life: under the parent, no record, no process.
    for mount in hierarchies():
        (mount / parent / orphan).mkdir(parents=True)
    procs: list[subprocess.Popen[bytes]] = []
    with running_etcd() as etcd_url, tempfile.TemporaryDirectory(prefix="dy-cg-") as tmp:
        paths = ClusterPaths(Path(tmp) / "data", Path(tmp) / "exec")
        config = paths.exec_root / "config.json"
        config.parent.mkdir(parents=True)
        config.write_text(json.dumps({
            "data-root": str(paths.data_root), "exec-root": str(paths.exec_root),
            "etcd-endpoints": [etcd_url], "cgroup-parent": parent,
        }))
        proc = subprocess.Popen([sys.executable, "-m", "services.cgroupd", "--config",
                                 str(config)], stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 15
            while not paths.service_socket("cgroupd").exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"cgroupd did not start: {proc.stderr.read()!r}"
                                       if proc.stderr else "cgroupd did not start")
                time.sleep(0.05)
            yield Service(paths, parent, etcd_url, orphan, procs)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
                p.wait(10)
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            remove_parent(parent)
    leftovers = [m / parent for m in hierarchies() if (m / parent).exists()]
    assert not leftovers, f"cgroups left behind: {leftovers}"


@pytest.fixture
async def client(service: Service) -> AsyncIterator[CgroupsClient]:
    async with open_channel(service.paths.service_target("cgroupd")) as channel:
        yield CgroupsClient(channel)


@pytest.fixture
async def container(
    service: Service, client: CgroupsClient
) -> AsyncIterator[Callable[..., asyncio.Future[str]]]:
    """Factory of container cgroups, each removed (its processes killed) at the end."""
    made: list[str] = []

    async def make(resources: Resources | None = None, **kw: str) -> str:
        cid = secrets.token_hex(32)
        await client.create_cgroup(cid, resources or Resources(), name=f"c-{cid[:6]}", **kw)
        made.append(cid)
        return cid

    yield make  # type: ignore[misc]
    for p in service.procs:
        if p.poll() is None:
            p.kill()
        p.wait(10)
    for cid in made:
        with contextlib.suppress(errors.NotFound):
            await client.remove_cgroup(cid)


def read(path: Path) -> str:
    return path.read_text().strip()


async def test_orphans_are_removed_at_start(service: Service) -> None:
    for mount in hierarchies():
        assert (mount / service.parent).is_dir()
        assert not (mount / service.parent / service.orphan).exists()


async def test_create_writes_the_limits(
    service: Service, client: CgroupsClient, container: Callable[..., asyncio.Future[str]]
) -> None:
    disk = block_device()
    cid = await container(Resources(
        memory=64 * MiB, memory_reservation=32 * MiB, cpu_shares=512, nano_cpus=500_000_000,
        cpuset_cpus="0", cpuset_mems="0", pids_limit=50,
        blkio_device_read_bps=(ThrottleDevice(disk, MiB),),
    ))
    leaf = f"{service.parent}/{cid}"
    memory = controller("memory") / leaf
    assert read(memory / "memory.limit_in_bytes") == str(64 * MiB)
    assert read(memory / "memory.memsw.limit_in_bytes") == str(128 * MiB)  # dockerd: 2 x memory
    assert read(memory / "memory.soft_limit_in_bytes") == str(32 * MiB)
    cpu = controller("cpu") / leaf
    assert read(cpu / "cpu.shares") == "512"
    assert read(cpu / "cpu.cfs_period_us") == "100000"
    assert read(cpu / "cpu.cfs_quota_us") == "50000"
    assert read(controller("cpuset") / leaf / "cpuset.cpus") == "0"
    assert read(controller("pids") / leaf / "pids.max") == "50"
    vda = Path(disk).stat().st_rdev
    assert f"{os.major(vda)}:{os.minor(vda)} {MiB}" in read(
        controller("blkio") / leaf / "blkio.throttle.read_bps_device")
    for mount in hierarchies():
        assert (mount / leaf).is_dir()

    state = await client.get_cgroup(cid)
    assert state.cgroups_path == f"/{leaf}"
    assert state.record.resources.memory_swap == 128 * MiB
    store = Store([service.etcd_url])
    await store.connect()
    try:
        entry = await store.get(f"cgroups/{cid}")
    finally:
        await store.close()
    assert entry is not None and json.loads(entry.value)["path"] == leaf


async def test_stats_of_a_real_process(
    service: Service, client: CgroupsClient, container: Callable[..., asyncio.Future[str]]
) -> None:
    cid = await container(Resources(pids_limit=20))
    service.spawn(cid, "import time\nb = bytearray(8 << 20)\nend = time.time() + 1.5\n"
                       "while time.time() < end: pass\ntime.sleep(60)")
    await asyncio.sleep(0.2)
    sample, previous = await client.get_stats(cid)
    assert previous is not None
    assert sample.memory.usage > 8 * MiB
    assert "rss" in sample.memory.stats and "cache" in sample.memory.stats
    assert sample.pids.current >= 1 and sample.pids.limit == 20
    assert sample.cpu.total_usage > previous.cpu.total_usage  # the busy loop ran between
    assert sample.cpu.system_cpu_usage > previous.cpu.system_cpu_usage
    assert len(sample.cpu.percpu_usage) == sample.cpu.online_cpus
    one, none = await client.get_stats(cid, one_shot=True)
    assert none is None and one.pids.current >= 1

    ticks = []
    async for tick in client.stream_stats(cid):
        ticks.append(tick)
        if len(ticks) == 2:
            break
    assert ticks[0][1] is None and ticks[1][1] == ticks[0][0]


async def test_update_applies_live(
    service: Service, client: CgroupsClient, container: Callable[..., asyncio.Future[str]]
) -> None:
    cid = await container(Resources(memory=64 * MiB))
    proc = service.spawn(cid, "import time\nb = bytearray(32 << 20)\nb[::4096] = b'x' * 8192\n"
                              "time.sleep(60)")
    memory = controller("memory") / service.parent / cid
    state = await client.update_resources(
        cid, Resources(memory=256 * MiB, memory_swap=512 * MiB, pids_limit=100, cpu_shares=256))
    assert read(memory / "memory.limit_in_bytes") == str(256 * MiB)
    assert read(memory / "memory.memsw.limit_in_bytes") == str(512 * MiB)
    assert read(controller("pids") / service.parent / cid / "pids.max") == "100"
    assert state.record.resources.cpu_shares == 256

    with pytest.raises(errors.InvalidArgument, match="update the memoryswap at the same time"):
        await client.update_resources(cid, Resources(memory=1024 * MiB))
    # The kernel cannot reclaim anonymous memory without swap: v1 refuses with EBUSY.
    await asyncio.sleep(0.3)
    with pytest.raises(errors.Conflict,
                       match=r"unable to set memory limit to 8388608 \(current usage: \d+"):
        await client.update_resources(cid, Resources(memory=8 * MiB, memory_swap=8 * MiB))
    assert proc.poll() is None
    assert (await client.get_cgroup(cid)).record.resources.memory == 256 * MiB
    # Nothing of the refused update stays: the limits written before the refusal are undone.
    assert read(memory / "memory.limit_in_bytes") == str(256 * MiB)
    assert read(memory / "memory.memsw.limit_in_bytes") == str(512 * MiB)


async def test_freeze_and_thaw_a_real_process(
    service: Service, client: CgroupsClient, container: Callable[..., asyncio.Future[str]]
) -> None:
    cid = await container()
    proc = service.spawn(cid, "while True: pass")
    await asyncio.sleep(0.2)
    freezer = controller("freezer") / service.parent / cid

    assert await client.freeze(cid) == "frozen"
    assert read(freezer / "freezer.state") == "FROZEN"
    status = Path(f"/proc/{proc.pid}/status").read_text()
    state_line = next(line for line in status.splitlines() if line.startswith("State:"))
    assert state_line.split()[1] in ("D", "S", "T"), state_line  # not running
    cpu = controller("cpuacct") / service.parent / cid / "cpuacct.usage"
    before = int(read(cpu))
    await asyncio.sleep(0.3)
    assert int(read(cpu)) == before  # a frozen busy loop uses no CPU
    assert (await client.get_cgroup(cid)).freeze_state == "frozen"

    assert await client.thaw(cid) == "thawed"
    assert read(freezer / "freezer.state") == "THAWED"
    await asyncio.sleep(0.3)
    assert int(read(cpu)) > before


async def test_oom_kill_is_detected_and_recorded(
    service: Service, client: CgroupsClient, container: Callable[..., asyncio.Future[str]]
) -> None:
    cid = await container(Resources(memory=16 * MiB, memory_swap=16 * MiB))

    async def first_event() -> int:
        async for event in client.watch_oom(cid):
            return event.oom_kills
        return 0

    watcher = asyncio.create_task(first_event())
    await asyncio.sleep(0.2)  # the watch is registered
    proc = service.spawn(cid, "b = bytearray(64 << 20)\nb[::4096] = b'x' * (16 << 10)")
    await asyncio.to_thread(proc.wait, 20)
    assert proc.returncode == -signal.SIGKILL
    assert await asyncio.wait_for(watcher, 10) >= 1
    assert (await client.get_cgroup(cid)).record.oom_kills >= 1
    store = Store([service.etcd_url])
    await store.connect()
    try:
        entry = await store.get(f"cgroups/{cid}")
    finally:
        await store.close()
    assert entry is not None and json.loads(entry.value)["oom_kills"] >= 1


@pytest.mark.parametrize(("resources", "message"), [
    (Resources(memory=1 * MiB), "Minimum memory limit allowed is 6MB"),
    (Resources(memory=64 * MiB, memory_swap=32 * MiB),
     "Minimum memoryswap limit should be larger than memory limit, see usage"),
    (Resources(nano_cpus=(os.cpu_count() or 1) * 10**9 + 10**9),
     f"range of CPUs is from 0.01 to {len(os.sched_getaffinity(0))}.00, as there are only "
     f"{len(os.sched_getaffinity(0))} CPUs available"),
    (Resources(cpuset_cpus="0-9"), "Requested CPUs are not available - requested 0-9, "
                                   "available: "),
    (Resources(cpuset_cpus="zero"), "Invalid value zero for cpuset cpus"),
    (Resources(blkio_device_write_iops=(ThrottleDevice("/etc/hostname", 10),)),
     "/etc/hostname is not a block device"),
])
async def test_bad_input_gets_dockerds_refusal(
    service: Service, client: CgroupsClient, resources: Resources, message: str
) -> None:
    cid = secrets.token_hex(32)
    with pytest.raises(errors.InvalidArgument) as refused:
        await client.create_cgroup(cid, resources)
    assert refused.value.message.startswith(message)
    for mount in hierarchies():
        assert not (mount / service.parent / cid).exists()
    with pytest.raises(errors.NotFound):
        await client.get_cgroup(cid)


async def test_remove_refuses_while_processes_remain_then_leaves_nothing(
    service: Service, client: CgroupsClient
) -> None:
    cid = secrets.token_hex(32)
    await client.create_cgroup(cid, Resources(memory=32 * MiB))
    try:
        proc = service.spawn(cid, "import time; time.sleep(60)")
        await asyncio.sleep(0.1)
        with pytest.raises(errors.Conflict, match="still has 1 process"):
            await client.remove_cgroup(cid)
        service.kill(proc)
        await client.remove_cgroup(cid)
    finally:
        with contextlib.suppress(errors.NotFound):
            await client.remove_cgroup(cid)
    for mount in hierarchies():
        assert not (mount / service.parent / cid).exists()
    with pytest.raises(errors.NotFound):
        await client.get_cgroup(cid)


async def test_a_cgroup_removed_by_the_runtime_comes_back_with_its_limits(
    service: Service, client: CgroupsClient, container: Callable[..., asyncio.Future[str]]
) -> None:
    # `runc delete` removes the cgroupsPath it was given, hierarchy after hierarchy;
    # a restart-policy restart then runs in what runc makes again, without limits.
    cid = await container(Resources(memory=48 * MiB, pids_limit=20))
    leaf = f"{service.parent}/{cid}"
    for mount in hierarchies():
        (mount / leaf).rmdir()
    deadline = time.monotonic() + 5
    while not all((mount / leaf).is_dir() for mount in hierarchies()):
        assert time.monotonic() < deadline, "the cgroup was not made again"
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)  # the limits follow the directories
    assert read(controller("memory") / leaf / "memory.limit_in_bytes") == str(48 * MiB)
    assert read(controller("pids") / leaf / "pids.max") == "20"
    # A cgroup cgroupd removes itself stays removed.
    await client.remove_cgroup(cid)
    await asyncio.sleep(0.3)
    assert not any((mount / leaf).exists() for mount in hierarchies())


async def test_cgroup_v2_freezer_on_the_hybrid_unified_mount() -> None:
    """The v2 driver for real where this host allows it: the hybrid cgroup2 mount has
    no controllers (they are bound to v1), but the v2 core freezer works there."""
    unified = ROOT / "unified"
    if not (unified / "cgroup.controllers").exists():
        pytest.skip("no cgroup2 mount on this host")
    driver = V2Driver(unified)
    parent = f"dockyard-test-{secrets.token_hex(4)}"
    path = f"{parent}/{secrets.token_hex(8)}"
    proc: subprocess.Popen[bytes] | None = None
    try:
        driver.create(path)
        assert driver.capabilities().memory_limit is False  # no controllers here
        target = unified / path / "cgroup.procs"
        proc = subprocess.Popen(["/bin/sh", "-c", f"echo $$ > {shlex.quote(str(target))}; "
                                 "exec sleep 60"])
        for _ in range(100):
            if driver.pids(path):
                break
            await asyncio.sleep(0.02)
        assert driver.pids(path) == {proc.pid}
        assert await freezer_change(driver, path, True) == "frozen"
        assert "frozen 1" in (unified / path / "cgroup.events").read_text()
        assert await freezer_change(driver, path, False) == "thawed"
        assert "frozen 0" in (unified / path / "cgroup.events").read_text()
    finally:
        if proc is not None:
            proc.kill()
            proc.wait(10)
        with contextlib.suppress(errors.DockyardError):
            rmdir_tree(unified / parent)
    assert not (unified / parent).exists()


async def freezer_change(driver: V2Driver, path: str, frozen: bool) -> str:
    from services.cgroupd.freezer import change

    return await change(driver, path, frozen, 5)
