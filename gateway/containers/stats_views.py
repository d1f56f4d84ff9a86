"""``GET /containers/{id}/stats`` messages, shaped as dockerd encodes its StatsResponse.

dockerd writes Go structs with ``omitempty`` on most counters, so a zero is
left out (``pids_stats: {}``, no ``memory_stats.failcnt``) while the CPU usage
and throttling numbers are always present. A container that is not running
gets the same document with every counter zero and Go's zero time in
``read``: that is what ``docker stats`` shows as 0 B / 0 B for a stopped one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.containers.times import ZERO_TIME, rfc3339_nano
from services.cgroupd.stats import BlkioEntry, CpuStats, StatsSample
from services.netd.models import InterfaceStats

_OTHER_BLKIO = ("io_queue_recursive", "io_service_time_recursive", "io_wait_time_recursive",
                "io_merged_recursive", "io_time_recursive", "sectors_recursive")
"""CFQ-only blkio lists, which no current kernel fills: null, as dockerd writes them."""


def _nonzero(**values: Any) -> dict[str, Any]:
    """Go's ``omitempty``: keep the fields that are not zero (or empty)."""
    return {key: value for key, value in values.items() if value}


def cpu_json(cpu: CpuStats | None) -> dict[str, Any]:
    """``cpu_stats`` / ``precpu_stats``; all zeros (with the always-present keys) for None."""
    cpu = cpu or CpuStats()
    usage: dict[str, Any] = {"total_usage": cpu.total_usage}
    if cpu.percpu_usage:
        usage["percpu_usage"] = list(cpu.percpu_usage)
    usage["usage_in_kernelmode"] = cpu.usage_in_kernelmode
    usage["usage_in_usermode"] = cpu.usage_in_usermode
    return {
        "cpu_usage": usage,
        **_nonzero(system_cpu_usage=cpu.system_cpu_usage, online_cpus=cpu.online_cpus),
        "throttling_data": {
            "periods": cpu.periods,
            "throttled_periods": cpu.throttled_periods,
            "throttled_time": cpu.throttled_time,
        },
    }


def _blkio_json(entries: tuple[BlkioEntry, ...]) -> list[dict[str, Any]]:
    return [{"major": e.major, "minor": e.minor, "op": e.op, "value": e.value} for e in entries]


def _networks_json(networks: Mapping[str, InterfaceStats]) -> dict[str, Any]:
    return {
        name: {
            "rx_bytes": s.rx_bytes, "rx_packets": s.rx_packets, "rx_errors": s.rx_errors,
            "rx_dropped": s.rx_dropped, "tx_bytes": s.tx_bytes, "tx_packets": s.tx_packets,
            "tx_errors": s.tx_errors, "tx_dropped": s.tx_dropped,
        }
        for name, s in sorted(networks.items())
    }


def stats_json(
    *,
    container_id: str,
    name: str,
    sample: StatsSample | None,
    previous: StatsSample | None = None,
    networks: Mapping[str, InterfaceStats] | None = None,
) -> dict[str, Any]:
    """One stats message.

    ``sample`` is None for a container that is not running (dockerd's empty
    stats); ``previous`` fills ``preread``/``precpu_stats`` (zeros when None);
    ``networks`` are the container's interfaces, left out when it has none.
    """
    out: dict[str, Any] = {
        "name": "/" + name.lstrip("/"),
        "id": container_id,
        "read": rfc3339_nano(sample.read_ns) if sample else ZERO_TIME,
        "preread": rfc3339_nano(previous.read_ns) if previous else ZERO_TIME,
    }
    if sample is None:
        out["pids_stats"] = {}
        out["blkio_stats"] = {"io_service_bytes_recursive": None, "io_serviced_recursive": None,
                              **dict.fromkeys(_OTHER_BLKIO)}
    else:
        out["pids_stats"] = _nonzero(current=sample.pids.current, limit=sample.pids.limit)
        out["blkio_stats"] = {
            "io_service_bytes_recursive": _blkio_json(sample.blkio.io_service_bytes_recursive),
            "io_serviced_recursive": _blkio_json(sample.blkio.io_serviced_recursive),
            **dict.fromkeys(_OTHER_BLKIO),
        }
    out["num_procs"] = 0
    out["storage_stats"] = {}
    out["cpu_stats"] = cpu_json(sample.cpu if sample else None)
    out["precpu_stats"] = cpu_json(previous.cpu if previous else None)
    if sample is None:
        out["memory_stats"] = {}
    else:
        memory = sample.memory
        # Go writes a map's keys sorted.
        stats = dict(sorted(memory.stats.items()))
        out["memory_stats"] = _nonzero(usage=memory.usage, max_usage=memory.max_usage,
                                       stats=stats, failcnt=memory.failcnt, limit=memory.limit)
    if networks:
        out["networks"] = _networks_json(networks)
    return out
