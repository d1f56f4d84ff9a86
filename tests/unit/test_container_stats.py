"""``GET /containers/{id}/stats`` against fakes: the JSON shape, the three modes, zeros."""

from __future__ import annotations

import json
from typing import Any

from gateway.backends import Backends
from gateway.containers.records import ContainerRecord, encode_record, name_key
from gateway.containers.stats_feed import StatsFeed
from gateway.containers.stats_views import stats_json
from services.cgroupd.stats import (
    BlkioEntry,
    BlkioStats,
    CpuStats,
    MemoryStats,
    PidsStats,
    StatsSample,
    parse_flat_keyed,
)
from services.execd.models import EXITED, RUNNING, RuntimeState, encode_state, runtime_key
from services.netd.models import InterfaceStats
from tests.unit.gateway_fakes import (
    FakeCgroups,
    FakeNetworks,
    FakeStore,
    fake_backends,
    make_app,
    serving,
)
from tests.unit.spec_schema import response_example, validate_example_shape, validate_response

CID = "ab" * 32
STATS_PATH = "/containers/{id}/stats"

# moby's StatsResponse JSON fields (api/types/container/stats.go), in its order.
DOCKER_FIELDS = ["name", "id", "read", "preread", "pids_stats", "blkio_stats", "num_procs",
                 "storage_stats", "cpu_stats", "precpu_stats", "memory_stats"]

# memory.stat of a v1 cgroup (captured), with every key the spec's example names.
V1_MEMORY_STAT = parse_flat_keyed("""cache 0
rss 6537216
rss_huge 6291456
mapped_file 0
writeback 0
pgpgin 477
pgpgout 414
pgfault 964
pgmajfault 0
inactive_anon 0
active_anon 6537216
inactive_file 0
active_file 0
unevictable 0
hierarchical_memory_limit 67108864
total_cache 0
total_rss 6537216
total_rss_huge 6291456
total_mapped_file 0
total_writeback 0
total_pgpgin 477
total_pgpgout 414
total_pgfault 964
total_pgmajfault 0
total_inactive_anon 0
total_active_anon 6537216
total_inactive_file 0
total_active_file 0
total_unevictable 0
""")


def sample(read_ns: int, cpu_ns: int, failcnt: int = 0) -> StatsSample:
    return StatsSample(
        read_ns=read_ns,
        cpu=CpuStats(total_usage=cpu_ns, percpu_usage=(cpu_ns - 10, 10), usage_in_kernelmode=20,
                     usage_in_usermode=cpu_ns - 20, system_cpu_usage=read_ns * 2, online_cpus=2,
                     periods=5, throttled_periods=2, throttled_time=7000),
        memory=MemoryStats(usage=6537216, max_usage=6651904, failcnt=failcnt, limit=67108864,
                           stats=V1_MEMORY_STAT),
        pids=PidsStats(current=3, limit=10),
        blkio=BlkioStats(io_service_bytes_recursive=(BlkioEntry(254, 0, "Read", 4096),
                                                     BlkioEntry(254, 0, "Write", 512))),
    )


ETH0 = InterfaceStats(rx_bytes=5338, rx_packets=36, tx_bytes=648, tx_packets=8)


def test_running_message_has_the_documented_shape() -> None:
    body = stats_json(container_id=CID, name="/web", sample=sample(2_000_000_000, 500, 1),
                      previous=sample(1_000_000_000, 100), networks={"eth0": ETH0})
    assert validate_response(body, STATS_PATH) == []
    by_name = frozenset({"$.networks", "$.memory_stats.stats"})
    assert validate_example_shape(body, response_example(STATS_PATH), maps=by_name) == []
    assert list(body)[:len(DOCKER_FIELDS)] == DOCKER_FIELDS and list(body)[-1] == "networks"
    assert body["name"] == "/web" and body["id"] == CID
    # Go's RFC 3339 with nanoseconds, trailing zeros dropped.
    assert body["read"] == "1970-01-01T00:00:02Z" and body["preread"] == "1970-01-01T00:00:01Z"
    assert body["cpu_stats"]["cpu_usage"] == {"total_usage": 500, "percpu_usage": [490, 10],
                                              "usage_in_kernelmode": 20,
                                              "usage_in_usermode": 480}
    assert body["precpu_stats"]["cpu_usage"]["total_usage"] == 100
    assert body["cpu_stats"]["throttling_data"] == {"periods": 5, "throttled_periods": 2,
                                                    "throttled_time": 7000}
    assert body["memory_stats"]["failcnt"] == 1
    assert list(body["memory_stats"]["stats"]) == sorted(V1_MEMORY_STAT)
    assert body["pids_stats"] == {"current": 3, "limit": 10}
    assert body["blkio_stats"]["io_service_bytes_recursive"][1] == {
        "major": 254, "minor": 0, "op": "Write", "value": 512}
    assert body["networks"]["eth0"] == {
        "rx_bytes": 5338, "rx_packets": 36, "rx_errors": 0, "rx_dropped": 0,
        "tx_bytes": 648, "tx_packets": 8, "tx_errors": 0, "tx_dropped": 0}


def test_first_message_has_zero_precpu_and_no_networks_without_a_sandbox() -> None:
    body = stats_json(container_id=CID, name="web", sample=sample(5, 1))
    assert body["name"] == "/web"
    assert body["preread"] == "0001-01-01T00:00:00Z"
    assert body["precpu_stats"] == {
        "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
        "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}}
    assert "networks" not in body
    # omitempty: failcnt 0 is left out, as dockerd's encoder does.
    assert set(body["memory_stats"]) == {"usage", "max_usage", "stats", "limit"}


def test_stopped_container_message_is_dockerds_empty_stats() -> None:
    body = stats_json(container_id=CID, name="/web", sample=None,
                      previous=sample(1_000_000_000, 100))
    assert validate_response(body, STATS_PATH) == []
    assert body["read"] == "0001-01-01T00:00:00Z"
    # The last real read stays as the previous one, as in dockerd's stream.
    assert body["preread"] == "1970-01-01T00:00:01Z"
    assert body["precpu_stats"]["cpu_usage"]["total_usage"] == 100
    assert body["pids_stats"] == {} and body["memory_stats"] == {}
    assert body["cpu_stats"]["cpu_usage"] == {"total_usage": 0, "usage_in_kernelmode": 0,
                                              "usage_in_usermode": 0}
    assert body["blkio_stats"]["io_service_bytes_recursive"] is None
    assert "networks" not in body and "system_cpu_usage" not in body["cpu_stats"]


def with_container(status: str) -> tuple[Backends, FakeCgroups, FakeNetworks]:
    store = FakeStore()
    record = ContainerRecord(id=CID, name="/web", created="2024-01-01T00:00:00Z", path="sh",
                             args=(), config={}, host_config={}, networking_config={},
                             image_id="sha256:" + "cd" * 32, image_name="busybox")
    store.values[record.key] = encode_record(record)
    store.values[name_key(record.name)] = CID.encode()
    store.values[runtime_key(CID)] = encode_state(RuntimeState(container_id=CID, status=status))
    backends = fake_backends(store=store)
    cgroups, networks = backends.cgroups, backends.networks
    assert isinstance(cgroups, FakeCgroups) and isinstance(networks, FakeNetworks)
    if status == RUNNING:
        cgroups.samples[CID] = [sample(1_000_000_000, 100), sample(2_000_000_000, 600)]
        networks.counters[CID] = {"eth0": ETH0}
    return backends, cgroups, networks


async def test_no_stream_reads_twice_one_shot_once() -> None:
    backends, _, _ = with_container(RUNNING)
    async with serving(make_app(backends)) as client:
        response = await client.get("/v1.47/containers/web/stats?stream=false")
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        two = json.loads(await response.text())
        response = await client.get("/containers/web/stats?stream=0&one-shot=1")
        one = json.loads(await response.text())
    assert two["cpu_stats"]["cpu_usage"]["total_usage"] == 600
    assert two["precpu_stats"]["cpu_usage"]["total_usage"] == 100
    assert two["preread"] == "1970-01-01T00:00:01Z"
    assert two["networks"]["eth0"]["rx_bytes"] == 5338
    assert one["preread"] == "0001-01-01T00:00:00Z"
    assert one["precpu_stats"]["cpu_usage"]["total_usage"] == 0


async def test_stream_sends_a_message_at_once() -> None:
    backends, _, _ = with_container(RUNNING)
    async with serving(make_app(backends)) as client:
        response = await client.get("/containers/web/stats")
        first = json.loads(await response.content.readline())
        response.close()
    assert first["id"] == CID and first["cpu_stats"]["cpu_usage"]["total_usage"] == 100


async def test_stream_follows_a_container_that_stops_until_it_is_removed() -> None:
    backends, cgroups, networks = with_container(RUNNING)
    feed = StatsFeed(backends.containers, backends.store, backends.cgroups, backends.networks)
    record = await backends.containers.get(CID)
    store = backends.store
    assert isinstance(store, FakeStore)
    messages: list[dict[str, Any]] = []
    async for message in feed.stream(record, interval=0.01):
        messages.append(message)
        if len(messages) == 2:  # it stops: no more cgroup nor sandbox
            store.values[runtime_key(CID)] = encode_state(RuntimeState(container_id=CID,
                                                                       status=EXITED))
            del cgroups.samples[CID], networks.counters[CID]
        if len(messages) == 4:  # it is removed: the stream ends
            del store.values[record.key]
    assert len(messages) == 4
    assert [m["cpu_stats"]["cpu_usage"]["total_usage"] for m in messages] == [100, 600, 0, 0]
    assert [m["precpu_stats"]["cpu_usage"]["total_usage"] for m in messages] == [0, 100, 600, 0]
    assert messages[2]["read"] == "0001-01-01T00:00:00Z" and "networks" not in messages[2]


async def test_stopped_container_gets_zeros_once() -> None:
    backends, _, _ = with_container(EXITED)
    async with serving(make_app(backends)) as client:
        body = await (await client.get("/containers/web/stats?stream=false")).json()
    assert body["id"] == CID and body["read"] == "0001-01-01T00:00:00Z"
    assert body["memory_stats"] == {}


async def test_refusals() -> None:
    backends, _, _ = with_container(RUNNING)
    async with serving(make_app(backends)) as client:
        both = await client.get("/containers/web/stats?stream=1&one-shot=1")
        assert both.status == 400
        assert (await both.json()) == {"message": "cannot have stream=true and one-shot=true"}
        missing = await client.get("/containers/nope/stats?stream=false")
        assert missing.status == 404
        assert (await missing.json()) == {"message": "No such container: nope"}
        # one-shot came with API 1.41: an older client's is ignored (two reads).
        old = await client.get("/v1.40/containers/web/stats?stream=0&one-shot=1")
        assert (await old.json())["preread"] != "0001-01-01T00:00:00Z"
