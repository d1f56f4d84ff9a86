"""The cgroup v2 driver against a v2 file layout in a temporary directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.cgroupd.freezer import change
from services.cgroupd.resources import Resources, ThrottleDevice
from services.cgroupd.v2 import V2Driver, blkio_to_io_weight, shares_to_weight, swap_max

MiB = 1024 * 1024


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory hugetlb pids\n")
    (tmp_path / "cgroup.subtree_control").write_text("")
    (tmp_path / "cpuset.cpus.effective").write_text("0-3\n")
    (tmp_path / "cpuset.mems.effective").write_text("0\n")
    return tmp_path


def test_runc_conversions() -> None:
    assert shares_to_weight(1024) == 39
    assert shares_to_weight(2) == 1
    assert shares_to_weight(262144) == 10000
    assert shares_to_weight(0) == 0
    assert blkio_to_io_weight(10) == 1
    assert blkio_to_io_weight(1000) == 10000
    assert blkio_to_io_weight(500) == 4950
    assert swap_max(64 * MiB, 128 * MiB) == str(64 * MiB)
    assert swap_max(64 * MiB, -1) == "max"
    assert swap_max(64 * MiB, 0) is None


def test_create_delegates_controllers_and_writes_v2_files(root: Path) -> None:
    driver = V2Driver(root)
    driver.create("dockyard/abc")
    # hugetlb is not a container limit Docker sets: it is not delegated.
    for level in (root, root / "dockyard"):
        assert (level / "cgroup.subtree_control").read_text() == (
            "+cpuset +cpu +io +memory +pids")
    assert not (root / "dockyard" / "abc" / "cgroup.subtree_control").exists()

    driver.apply("dockyard/abc", Resources(
        memory=64 * MiB, memory_swap=192 * MiB, memory_reservation=32 * MiB, cpu_shares=512,
        nano_cpus=1_500_000_000, cpuset_cpus="1-2", cpuset_mems="0", pids_limit=99,
        blkio_weight=300,
        blkio_device_read_bps=(ThrottleDevice("/dev/vda", 1048576, 254, 0),),
        blkio_device_write_iops=(ThrottleDevice("/dev/vda", 100, 254, 0),),
    ))
    leaf = root / "dockyard" / "abc"

    def read(name: str) -> str:
        return (leaf / name).read_text()

    assert read("memory.max") == str(64 * MiB)
    assert read("memory.swap.max") == str(128 * MiB)  # swap alone: 192 - 64
    assert read("memory.low") == str(32 * MiB)
    assert read("cpu.max") == "150000 100000"
    assert read("cpu.weight") == str(1 + (510 * 9999) // 262142)
    assert read("cpuset.cpus") == "1-2"
    assert read("cpuset.mems") == "0"
    assert read("pids.max") == "99"
    assert read("io.weight") == f"default {1 + (290 * 9999) // 990}"
    assert read("io.max") == "254:0 rbps=1048576 wiops=100"


def test_unlimited_values(root: Path) -> None:
    driver = V2Driver(root)
    driver.create("p/c")
    driver.apply("p/c", Resources(memory_swap=-1, cpu_period=50_000, pids_limit=0))
    leaf = root / "p" / "c"
    assert (leaf / "memory.max").read_text() == "max"
    assert (leaf / "memory.swap.max").read_text() == "max"
    assert (leaf / "cpu.max").read_text() == "max 50000"
    assert (leaf / "pids.max").read_text() == "max"


def test_capabilities_follow_the_root_controllers(root: Path) -> None:
    caps = V2Driver(root).capabilities()
    assert caps.memory_limit and caps.cpu_cfs and caps.pids_limit and caps.blkio_weight
    assert not caps.oom_kill_disable
    assert caps.cpus == "0-3"
    (root / "cgroup.controllers").write_text("hugetlb\n")
    caps = V2Driver(root).capabilities()
    assert not (caps.memory_limit or caps.cpu_cfs or caps.pids_limit or caps.cpuset)


async def test_freeze_writes_cgroup_freeze_and_waits_for_events(root: Path) -> None:
    driver = V2Driver(root)
    driver.create("p/c")
    leaf = root / "p" / "c"
    (leaf / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    assert await change(driver, "p/c", True, 1) == "frozen"
    assert (leaf / "cgroup.freeze").read_text() == "1"
    (leaf / "cgroup.events").write_text("populated 1\nfrozen 0\n")
    assert await change(driver, "p/c", False, 1) == "thawed"
    assert (leaf / "cgroup.freeze").read_text() == "0"


async def test_a_freeze_that_never_completes_is_undone(root: Path) -> None:
    from services.common.errors import Unavailable

    driver = V2Driver(root)
    driver.create("p/c")
    (root / "p" / "c" / "cgroup.events").write_text("frozen 0\n")
    with pytest.raises(Unavailable, match="timed out"):
        await change(driver, "p/c", True, 0.05)
    assert (root / "p" / "c" / "cgroup.freeze").read_text() == "0"


def test_v2_stats_and_oom_counter(root: Path) -> None:
    driver = V2Driver(root)
    driver.create("p/c")
    leaf = root / "p" / "c"
    (leaf / "memory.current").write_text("1048576\n")
    (leaf / "memory.max").write_text("max\n")
    (leaf / "memory.stat").write_text("anon 4096\nfile 8192\nkernel_stack 16384\n")
    (leaf / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\n")
    (leaf / "cpu.stat").write_text(
        "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 10\n"
        "nr_throttled 4\nthrottled_usec 2000\n")
    (leaf / "pids.current").write_text("3\n")
    (leaf / "pids.max").write_text("max\n")
    (leaf / "io.stat").write_text("254:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n")
    s = driver.sample("p/c", 10**12, 2)
    assert s.memory.usage == 1048576 and s.memory.limit > 0
    assert s.memory.stats["anon"] == 4096 and "kernel_stack" in s.memory.stats
    assert (s.cpu.total_usage, s.cpu.usage_in_usermode, s.cpu.usage_in_kernelmode) == (
        1_500_000, 1_000_000, 500_000)
    assert (s.cpu.periods, s.cpu.throttled_periods, s.cpu.throttled_time) == (10, 4, 2_000_000)
    assert s.cpu.percpu_usage == ()
    assert (s.pids.current, s.pids.limit) == (3, 0)
    assert [(e.op, e.value) for e in s.blkio.io_service_bytes_recursive] == [
        ("read", 4096), ("write", 8192)]
    assert driver.oom_kills("p/c") == 2
