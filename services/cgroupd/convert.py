"""Proto ↔ domain conversion for cgroupd, in one place (used by servicer and client)."""

from __future__ import annotations

from dockyard.cgroupd.v1 import cgroupd_pb2 as pb
from services.cgroupd.manager import CgroupState, OOMEvent
from services.cgroupd.records import CgroupRecord
from services.cgroupd.resources import Resources, ThrottleDevice
from services.cgroupd.stats import (
    BlkioEntry,
    BlkioStats,
    CpuStats,
    MemoryStats,
    PidsStats,
    StatsSample,
)

_THROTTLES = ("blkio_device_read_bps", "blkio_device_write_bps",
              "blkio_device_read_iops", "blkio_device_write_iops")


def resources_to_pb(res: Resources) -> pb.Resources:
    msg = pb.Resources(
        memory=res.memory, memory_swap=res.memory_swap,
        memory_reservation=res.memory_reservation, cpu_shares=res.cpu_shares,
        nano_cpus=res.nano_cpus, cpu_period=res.cpu_period, cpu_quota=res.cpu_quota,
        cpuset_cpus=res.cpuset_cpus, cpuset_mems=res.cpuset_mems,
        blkio_weight=res.blkio_weight,
    )
    if res.oom_kill_disable is not None:
        msg.oom_kill_disable = res.oom_kill_disable
    if res.pids_limit is not None:
        msg.pids_limit = res.pids_limit
    for name in _THROTTLES:
        getattr(msg, name).extend(
            pb.ThrottleDevice(path=d.path, rate=d.rate, major=d.major, minor=d.minor)
            for d in getattr(res, name)
        )
    return msg


def resources_from_pb(msg: pb.Resources) -> Resources:
    throttles = {
        name: tuple(ThrottleDevice(d.path, d.rate, d.major if d.major or d.minor else -1,
                                   d.minor if d.major or d.minor else -1)
                    for d in getattr(msg, name))
        for name in _THROTTLES
    }
    return Resources(
        memory=msg.memory, memory_swap=msg.memory_swap,
        memory_reservation=msg.memory_reservation,
        oom_kill_disable=msg.oom_kill_disable if msg.HasField("oom_kill_disable") else None,
        cpu_shares=msg.cpu_shares, nano_cpus=msg.nano_cpus, cpu_period=msg.cpu_period,
        cpu_quota=msg.cpu_quota, cpuset_cpus=msg.cpuset_cpus, cpuset_mems=msg.cpuset_mems,
        pids_limit=msg.pids_limit if msg.HasField("pids_limit") else None,
        blkio_weight=msg.blkio_weight,
        **throttles,
    )


def state_to_pb(state: CgroupState) -> pb.Cgroup:
    r = state.record
    return pb.Cgroup(
        container_id=r.container_id, name=r.name, parent=r.parent, path=r.path,
        cgroups_path=state.cgroups_path, resources=resources_to_pb(r.resources),
        oom_kills=r.oom_kills, freeze_state=state.freeze_state, pids=list(state.pids),
    )


def state_from_pb(msg: pb.Cgroup, warnings: tuple[str, ...] = ()) -> CgroupState:
    record = CgroupRecord(
        container_id=msg.container_id, name=msg.name, parent=msg.parent, path=msg.path,
        resources=resources_from_pb(msg.resources), oom_kills=msg.oom_kills,
    )
    return CgroupState(record=record, cgroups_path=msg.cgroups_path,
                       freeze_state=msg.freeze_state, pids=tuple(msg.pids), warnings=warnings)


def _entries_to_pb(entries: tuple[BlkioEntry, ...]) -> list[pb.BlkioEntry]:
    return [pb.BlkioEntry(major=e.major, minor=e.minor, op=e.op, value=e.value) for e in entries]


def _entries_from_pb(entries: object) -> tuple[BlkioEntry, ...]:
    return tuple(BlkioEntry(e.major, e.minor, e.op, e.value) for e in entries)  # type: ignore[attr-defined]


def sample_to_pb(s: StatsSample) -> pb.StatsSample:
    c, m = s.cpu, s.memory
    return pb.StatsSample(
        read_unix_nano=s.read_ns,
        cpu=pb.CpuStats(
            total_usage=c.total_usage, percpu_usage=list(c.percpu_usage),
            usage_in_kernelmode=c.usage_in_kernelmode, usage_in_usermode=c.usage_in_usermode,
            system_cpu_usage=c.system_cpu_usage, online_cpus=c.online_cpus, periods=c.periods,
            throttled_periods=c.throttled_periods, throttled_time=c.throttled_time,
        ),
        memory=pb.MemoryStats(usage=m.usage, max_usage=m.max_usage, failcnt=m.failcnt,
                              limit=m.limit, stats={k: max(v, 0) for k, v in m.stats.items()}),
        pids=pb.PidsStats(current=s.pids.current, limit=s.pids.limit),
        blkio=pb.BlkioStats(
            io_service_bytes_recursive=_entries_to_pb(s.blkio.io_service_bytes_recursive),
            io_serviced_recursive=_entries_to_pb(s.blkio.io_serviced_recursive),
        ),
    )


def sample_from_pb(msg: pb.StatsSample) -> StatsSample:
    c, m = msg.cpu, msg.memory
    return StatsSample(
        read_ns=msg.read_unix_nano,
        cpu=CpuStats(
            total_usage=c.total_usage, percpu_usage=tuple(c.percpu_usage),
            usage_in_kernelmode=c.usage_in_kernelmode, usage_in_usermode=c.usage_in_usermode,
            system_cpu_usage=c.system_cpu_usage, online_cpus=c.online_cpus, periods=c.periods,
            throttled_periods=c.throttled_periods, throttled_time=c.throttled_time,
        ),
        memory=MemoryStats(usage=m.usage, max_usage=m.max_usage, failcnt=m.failcnt,
                           limit=m.limit, stats=dict(m.stats)),
        pids=PidsStats(current=msg.pids.current, limit=msg.pids.limit),
        blkio=BlkioStats(
            io_service_bytes_recursive=_entries_from_pb(msg.blkio.io_service_bytes_recursive),
            io_serviced_recursive=_entries_from_pb(msg.blkio.io_serviced_recursive),
        ),
    )


def oom_to_pb(e: OOMEvent) -> pb.WatchOOMResponse:
    return pb.WatchOOMResponse(container_id=e.container_id, name=e.name, oom_kills=e.oom_kills,
                               new_kills=e.new_kills, time_unix_nano=e.time_ns)


def oom_from_pb(msg: pb.WatchOOMResponse) -> OOMEvent:
    return OOMEvent(msg.container_id, msg.name, msg.oom_kills, msg.new_kills, msg.time_unix_nano)
