"""HostConfig's limits as cgroupd's :class:`Resources`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.cgroupd.resources import Resources, ThrottleDevice


def _int(host_config: Mapping[str, Any], key: str) -> int:
    value = host_config.get(key)
    return int(value) if isinstance(value, (int, float)) else 0


def _throttles(host_config: Mapping[str, Any], key: str) -> tuple[ThrottleDevice, ...]:
    return tuple(
        ThrottleDevice(path=str(entry.get("Path", "")), rate=int(entry.get("Rate", 0)))
        for entry in host_config.get(key) or ()
        if isinstance(entry, dict)
    )


def resources_from_host_config(host_config: Mapping[str, Any]) -> Resources:
    pids = host_config.get("PidsLimit")
    oom_disable = host_config.get("OomKillDisable")
    return Resources(
        memory=_int(host_config, "Memory"),
        memory_swap=_int(host_config, "MemorySwap"),
        memory_reservation=_int(host_config, "MemoryReservation"),
        oom_kill_disable=bool(oom_disable) if oom_disable is not None else None,
        cpu_shares=_int(host_config, "CpuShares"),
        nano_cpus=_int(host_config, "NanoCpus"),
        cpu_period=_int(host_config, "CpuPeriod"),
        cpu_quota=_int(host_config, "CpuQuota"),
        cpuset_cpus=str(host_config.get("CpusetCpus") or ""),
        cpuset_mems=str(host_config.get("CpusetMems") or ""),
        pids_limit=int(pids) if isinstance(pids, int) else None,
        blkio_weight=_int(host_config, "BlkioWeight"),
        blkio_device_read_bps=_throttles(host_config, "BlkioDeviceReadBps"),
        blkio_device_write_bps=_throttles(host_config, "BlkioDeviceWriteBps"),
        blkio_device_read_iops=_throttles(host_config, "BlkioDeviceReadIOps"),
        blkio_device_write_iops=_throttles(host_config, "BlkioDeviceWriteIOps"),
    )
