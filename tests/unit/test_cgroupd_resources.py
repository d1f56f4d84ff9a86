"""Resource validation speaks dockerd's words; update merging follows `docker update`."""

from __future__ import annotations

import pytest

from services.cgroupd.placement import cgroup_path, normalize_parent, orphans
from services.cgroupd.records import CgroupRecord
from services.cgroupd.resources import (
    Capabilities,
    Resources,
    ThrottleDevice,
    check,
    merge_update,
    parse_list,
    with_create_defaults,
)
from services.common.errors import InvalidArgument

MiB = 1024 * 1024
CAPS = Capabilities(cpus="0-1", mems="0", num_cpus=2)


@pytest.mark.parametrize(("res", "message"), [
    (Resources(memory=MiB), "Minimum memory limit allowed is 6MB"),
    (Resources(memory=64 * MiB, memory_swap=32 * MiB),
     "Minimum memoryswap limit should be larger than memory limit, see usage"),
    (Resources(memory_swap=64 * MiB),
     "You should always set the Memory limit when using Memoryswap limit, see usage"),
    (Resources(memory_reservation=MiB), "Minimum memory reservation allowed is 6MB"),
    (Resources(memory=16 * MiB, memory_reservation=32 * MiB),
     "Minimum memory limit can not be less than memory reservation limit, see usage"),
    (Resources(nano_cpus=3 * 10**9),
     "range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available"),
    (Resources(nano_cpus=-1), "range of CPUs is from 0.01 to 2.00"),
    (Resources(nano_cpus=10**9, cpu_period=100000),
     "Conflicting options: Nano CPUs and CPU Period cannot both be set"),
    (Resources(nano_cpus=10**9, cpu_quota=100000),
     "Conflicting options: Nano CPUs and CPU Quota cannot both be set"),
    (Resources(cpu_period=999), "CPU cfs period can not be less than 1ms (i.e. 1000) or larger "
                                "than 1s (i.e. 1000000)"),
    (Resources(cpu_quota=999), "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
    (Resources(cpuset_cpus="0-9"),
     "Requested CPUs are not available - requested 0-9, available: 0-1"),
    (Resources(cpuset_mems="1"),
     "Requested memory nodes are not available - requested 1, available: 0"),
    (Resources(cpuset_cpus="1-0"), "Invalid value 1-0 for cpuset cpus"),
    (Resources(blkio_weight=5), "Range of blkio weight is from 10 to 1000"),
])
def test_refusals_use_dockerds_wording(res: Resources, message: str) -> None:
    with pytest.raises(InvalidArgument) as refused:
        check(res, CAPS)
    assert refused.value.message.startswith(message)


def test_swap_without_memory_is_allowed_on_update() -> None:
    assert check(Resources(memory_swap=64 * MiB), CAPS, update=True).warnings == ()


def test_unsupported_limits_are_dropped_with_warnings() -> None:
    caps = Capabilities(cpus="0-1", mems="0", num_cpus=2, swap_limit=False, blkio_weight=False,
                        oom_kill_disable=False, blkio_read_bps=False)
    checked = check(Resources(memory=64 * MiB, memory_swap=128 * MiB, blkio_weight=500,
                              oom_kill_disable=True,
                              blkio_device_read_bps=(ThrottleDevice("/dev/vda", 1),)), caps)
    assert checked.resources.memory_swap == -1
    assert checked.resources.blkio_weight == 0
    assert checked.resources.oom_kill_disable is None
    assert checked.resources.blkio_device_read_bps == ()
    assert "Your kernel does not support Block I/O weight or the cgroup is not mounted. " \
           "Weight discarded." in checked.warnings
    assert len(checked.warnings) == 4


def test_oom_kill_disable_without_memory_warns() -> None:
    checked = check(Resources(oom_kill_disable=True), CAPS)
    assert checked.warnings[0].startswith("OOM killer is disabled for the container")


def test_create_defaults_double_memory_for_swap() -> None:
    assert with_create_defaults(Resources(memory=64 * MiB), CAPS).memory_swap == 128 * MiB
    assert with_create_defaults(Resources(memory=64 * MiB, memory_swap=-1), CAPS).memory_swap == -1


def test_nano_cpus_become_a_cfs_quota() -> None:
    assert Resources(nano_cpus=500_000_000).cfs() == (100_000, 50_000)
    assert Resources(cpu_period=50_000, cpu_quota=25_000).cfs() == (50_000, 25_000)
    assert Resources().cfs() == (0, -1)


def test_update_merges_like_docker_update() -> None:
    current = Resources(memory=64 * MiB, memory_swap=128 * MiB, nano_cpus=10**9, pids_limit=10)
    merged = merge_update(current, Resources(cpu_quota=50_000, cpu_period=100_000,
                                             pids_limit=0))
    assert merged.memory == 64 * MiB and merged.nano_cpus == 0 and merged.pids_limit == 0
    assert merge_update(current, Resources(cpu_shares=100)).pids_limit == 10
    with pytest.raises(InvalidArgument, match="update the memoryswap at the same time"):
        merge_update(current, Resources(memory=256 * MiB))


def test_parse_list() -> None:
    assert parse_list("0-2,5") == {0, 1, 2, 5}
    assert parse_list("") == set()
    for bad in ("a", "1-", "-1", "2-1"):
        with pytest.raises(ValueError):
            parse_list(bad)


def test_placement() -> None:
    assert normalize_parent("/dockyard/") == "dockyard"
    assert cgroup_path("a/b", "c1") == "a/b/c1"
    for bad in ("", "/", "../etc", "a/../b", "a b"):
        with pytest.raises(InvalidArgument):
            normalize_parent(bad)
    with pytest.raises(InvalidArgument):
        cgroup_path("dockyard", "../x")
    assert orphans({"a", "b", "c"}, {"b"}) == ["a", "c"]


def test_record_round_trip() -> None:
    record = CgroupRecord("c1", "web", "dockyard", "dockyard/c1", Resources(
        memory=64 * MiB, pids_limit=None, oom_kill_disable=True,
        blkio_device_read_bps=(ThrottleDevice("/dev/vda", 5, 254, 0),)), oom_kills=2)
    assert CgroupRecord.from_json(record.to_json()) == record
