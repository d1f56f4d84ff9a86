"""Parsing captured cgroupfs files, and rendering Docker's stats JSON."""

from __future__ import annotations

from services.cgroupd.stats import (
    CLOCK_TICKS,
    BlkioEntry,
    BlkioStats,
    CpuStats,
    MemoryStats,
    PidsStats,
    StatsSample,
    parse_flat_keyed,
    parse_limit,
    parse_percpu,
    parse_v1_blkio,
    parse_v2_io_stat,
    system_cpu_usage,
    to_docker_json,
)

V1_MEMORY_STAT = """cache 135168
rss 9035776
rss_huge 0
shmem 0
mapped_file 0
total_cache 135168
total_rss 9035776
hierarchical_memory_limit 67108864
"""
CPU_STAT = "nr_periods 12\nnr_throttled 3\nthrottled_time 45000000\n"
V1_BLKIO = """254:0 Read 4096
254:0 Write 8192
254:0 Sync 12288
254:0 Async 0
254:0 Discard 0
254:0 Total 12288
Total 12288
"""
V2_IO_STAT = "254:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n8:0 rbytes=5\n"
PROC_STAT = "cpu  64395 0 9220 959175 443 0 472 776 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n"


def test_flat_keyed_files() -> None:
    mem = parse_flat_keyed(V1_MEMORY_STAT)
    assert mem["cache"] == 135168 and mem["rss"] == 9035776
    assert parse_flat_keyed(CPU_STAT) == {"nr_periods": 12, "nr_throttled": 3,
                                          "throttled_time": 45000000}
    assert parse_flat_keyed("oom_kill_disable 0\nunder_oom 0\noom_kill 4\n")["oom_kill"] == 4


def test_limits_and_percpu() -> None:
    assert parse_limit("max\n") == 0
    assert parse_limit("4096\n") == 4096
    assert parse_percpu("10 20 \n") == (10, 20)


def test_system_cpu_usage_sums_seven_fields_in_ns() -> None:
    ticks = 64395 + 0 + 9220 + 959175 + 443 + 0 + 472  # steal (776) excluded
    assert system_cpu_usage(PROC_STAT) == ticks * 1_000_000_000 // CLOCK_TICKS


def test_v1_blkio_drops_the_total_line() -> None:
    entries = parse_v1_blkio(V1_BLKIO)
    assert entries[0] == BlkioEntry(254, 0, "Read", 4096)
    assert len(entries) == 6


def test_v2_io_stat() -> None:
    service_bytes, serviced = parse_v2_io_stat(V2_IO_STAT)
    assert service_bytes == (BlkioEntry(254, 0, "read", 1), BlkioEntry(254, 0, "write", 2),
                             BlkioEntry(8, 0, "read", 5))
    assert serviced == (BlkioEntry(254, 0, "read", 3), BlkioEntry(254, 0, "write", 4))


def test_docker_json_shape() -> None:
    def sample(ns: int, usage: int) -> StatsSample:
        return StatsSample(
            read_ns=ns,
            cpu=CpuStats(total_usage=usage, percpu_usage=(usage, 0), usage_in_usermode=usage,
                         system_cpu_usage=ns, online_cpus=2, periods=1),
            memory=MemoryStats(usage=100, limit=200, stats={"cache": 1}),
            pids=PidsStats(current=2, limit=10),
            blkio=BlkioStats(io_service_bytes_recursive=(BlkioEntry(254, 0, "Read", 1),)),
        )

    body = to_docker_json(sample(2_000_000_000, 50), sample(1_000_000_000, 10),
                          container_id="abc", name="web")
    assert body["name"] == "/web" and body["id"] == "abc"
    assert body["read"] == "1970-01-01T00:00:02.000000000Z"
    assert body["preread"] == "1970-01-01T00:00:01.000000000Z"
    assert body["cpu_stats"]["cpu_usage"]["total_usage"] == 50
    assert body["cpu_stats"]["cpu_usage"]["percpu_usage"] == [50, 0]
    assert body["precpu_stats"]["cpu_usage"]["total_usage"] == 10
    assert body["cpu_stats"]["throttling_data"] == {"periods": 1, "throttled_periods": 0,
                                                    "throttled_time": 0}
    assert body["memory_stats"] == {"usage": 100, "stats": {"cache": 1}, "limit": 200}
    assert body["pids_stats"] == {"current": 2, "limit": 10}
    assert body["blkio_stats"]["io_service_bytes_recursive"] == [
        {"major": 254, "minor": 0, "op": "Read", "value": 1}]
    one_shot = to_docker_json(sample(1, 1), None, container_id="abc", name="/web")
    assert one_shot["preread"] == "0001-01-01T00:00:00Z"
    assert one_shot["precpu_stats"]["cpu_usage"]["total_usage"] == 0
