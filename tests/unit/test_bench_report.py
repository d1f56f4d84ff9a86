"""Pure pieces of the benchmark harness: statistics, ratios, the table, process trees."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from aiohttp import web

from bench.api_latency import Endpoint, measure
from bench.memory import labelled_pids, parent_of, rss_kib, with_descendants
from bench.report import Row, format_ratio, format_value, ratio, render_table, write_results
from bench.stats import median, percentile, summarize


def test_median_of_odd_and_even_counts() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5


def test_p95_is_an_observed_value() -> None:
    samples = [float(n) for n in range(1, 101)]
    assert percentile(samples, 95) == 95.0
    assert percentile([7.0], 95) == 7.0
    assert percentile([1.0, 2.0, 3.0], 100) == 3.0


@pytest.mark.parametrize("bad", [0.0, -1.0, 101.0])
def test_percentile_rejects_out_of_range(bad: float) -> None:
    with pytest.raises(ValueError):
        percentile([1.0], bad)


def test_empty_samples_are_an_error() -> None:
    with pytest.raises(ValueError):
        median([])
    with pytest.raises(ValueError):
        percentile([], 50)


def test_summary_rate_is_requests_over_wall_time() -> None:
    summary = summarize([0.001] * 100, wall_s=0.5)
    assert summary.count == 100
    assert summary.requests_per_s == 200.0
    assert summary.to_json()["median_ms"] == pytest.approx(1.0)


def test_ratio_is_dockyard_over_dockerd() -> None:
    assert ratio(1.0, 2.0) == 0.5
    assert ratio(1.0, None) is None
    assert ratio(None, 2.0) is None
    assert ratio(1.0, 0.0) is None
    assert format_ratio(0.5) == "0.50x"
    assert format_ratio(None) == "-"


def test_values_are_formatted_by_unit() -> None:
    assert format_value(0.4567, "ms") == "0.46"
    assert format_value(1234.5, "ms") == "1234"
    assert format_value(87.25, "MiB") == "87.2"
    assert format_value(1999.6, "req/s") == "2000"
    assert format_value(None, "ms") == "-"


def test_table_without_dockerd_has_no_ratio_column() -> None:
    table = render_table([Row("GET /_ping median", "ms", 0.5)])
    header, rule, row = table.splitlines()
    assert header.split() == ["measure", "unit", "dockyard"]
    assert set(rule.replace(" ", "")) == {"-"}
    assert row.endswith("0.50")


def test_table_with_dockerd_shows_the_ratio() -> None:
    table = render_table(
        [Row("GET /_ping median", "ms", 0.5, 1.0), Row("idle RSS", "MiB", 90.0)]
    )
    lines = table.splitlines()
    assert lines[0].split() == ["measure", "unit", "dockyard", "dockerd", "ratio"]
    assert lines[2].split()[-2:] == ["1.00", "0.50x"]
    assert lines[3].split()[-2:] == ["-", "-"]


def test_results_are_written_as_json(tmp_path: Path) -> None:
    path = write_results(tmp_path / "results", [Row("m", "ms", 2.0, 4.0)], {"k": 1}, now=0)
    assert path.name == "19700101T000000Z.json"
    data = json.loads(path.read_text())
    assert data["k"] == 1
    assert data["rows"] == [
        {"measure": "m", "unit": "ms", "dockyard": 2.0, "dockerd": 4.0, "ratio": 0.5}
    ]


def test_pids_are_found_anywhere_in_the_status_document() -> None:
    status = {
        "pid": 10,
        "components": {
            "etcd": {"pid": 11, "state": "running"},
            "imaged": {"pid": 12},
            "gateway": {"pid": None, "state": "restarting"},
        },
    }
    assert labelled_pids(status) == {"launcher": 10, "etcd": 11, "imaged": 12}


def test_parent_is_read_past_a_command_name_with_spaces() -> None:
    assert parent_of("42 (python -m (x)) S 7 42 42 0 -1") == 7


def test_descendants_include_grandchildren_once() -> None:
    children = {1: [2, 3], 2: [4], 4: [2]}
    assert with_descendants([1], children) == {1, 2, 3, 4}


def test_rss_of_this_process_is_positive_and_of_a_missing_one_zero() -> None:
    assert rss_kib(os.getpid()) > 0
    assert rss_kib(2**22 + 12345) == 0


@pytest.mark.parametrize(
    ("host", "socket", "base"),
    [
        ("unix:///run/d.sock", "/run/d.sock", "http://localhost"),
        ("/run/d.sock", "/run/d.sock", "http://localhost"),
        ("tcp://127.0.0.1:2375", None, "http://127.0.0.1:2375"),
    ],
)
def test_endpoints_parse(host: str, socket: str | None, base: str) -> None:
    endpoint = Endpoint.parse(host)
    assert (endpoint.unix_socket, endpoint.base_url) == (socket, base)


async def test_measure_times_every_request_over_a_unix_socket(tmp_path: Path) -> None:
    hits = 0

    async def ping(request: web.Request) -> web.Response:
        nonlocal hits
        hits += 1
        return web.Response(text="OK")

    app = web.Application()
    app.router.add_get("/_ping", ping)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = tmp_path / "api.sock"
    await web.UnixSite(runner, str(sock)).start()
    try:
        summary = await measure(Endpoint.parse(f"unix://{sock}"), "/_ping", 50, 4, warmup=3)
    finally:
        await runner.cleanup()
    assert summary.count == 50
    assert hits == 53
    assert 0 < summary.median_s <= summary.p95_s
    assert summary.requests_per_s > 0
