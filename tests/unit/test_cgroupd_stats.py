"""Parsing captured cgroupfs files."""

from __future__ import annotations

from services.cgroupd.stats import (
    CLOCK_TICKS,
    BlkioEntry,
    parse_flat_keyed,
    parse_limit,
    parse_percpu,
    parse_v1_blkio,
    parse_v2_io_stat,
    system_cpu_usage,
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
