"""The pure parts of ``bench.container_reads``: paths, rates, output checks and the table."""

from __future__ import annotations

import pytest

from bench.container_reads import (
    inspect_paths,
    parse_args,
    per_second,
    result_rows,
    stats_lines_ok,
)
from bench.report import Row


def test_inspect_paths_take_every_container_in_turn() -> None:
    assert inspect_paths(["a", "b", "c"], 5) == [
        "/containers/a/json", "/containers/b/json", "/containers/c/json",
        "/containers/a/json", "/containers/b/json"]
    with pytest.raises(ValueError):
        inspect_paths([], 3)


def test_per_second_needs_a_positive_wall_time() -> None:
    assert per_second(500, 0.25) == 2000.0
    with pytest.raises(ValueError):
        per_second(10, 0.0)


def test_stats_output_has_a_header_and_one_line_per_container() -> None:
    output = "CONTAINER ID   NAME   CPU %\nabc   one   0.00%\ndef   two   0.01%\n"
    assert stats_lines_ok(output, 2)
    assert not stats_lines_ok(output, 3)
    assert not stats_lines_ok("CONTAINER ID   NAME\n", 1)


def test_rows_are_medians_with_dockerd_beside_when_measured() -> None:
    args = parse_args(["--listed", "50", "--running", "10"])
    samples = {
        "inspect": {"dockyard": [900.0, 1000.0, 1100.0], "dockerd": [800.0, 700.0, 900.0]},
        "list": {"dockyard": [50.0, 40.0, 60.0]},
        "stats": {"dockyard": [1.5, 1.2, 1.3], "dockerd": [1.1, 1.1, 1.2]},
    }
    assert result_rows(args, samples) == [
        Row("GET /containers/{id}/json, 50 containers", "req/s", 1000.0, 800.0),
        Row("GET /containers/json?all=1, 50 containers", "req/s", 50.0, None),
        Row("docker stats --no-stream, 10 running", "ms", 1300.0, 1100.0),
    ]


def test_stats_row_is_left_out_when_not_measured() -> None:
    args = parse_args(["--running", "0"])
    rows = result_rows(args, {"inspect": {"dockyard": [1.0]}, "list": {"dockyard": [2.0]},
                              "stats": {}})
    assert [row.unit for row in rows] == ["req/s", "req/s"]


def test_arguments_default_to_the_issue_targets_and_refuse_nonsense() -> None:
    args = parse_args([])
    assert (args.listed, args.running) == (500, 100)
    with pytest.raises(SystemExit):
        parse_args(["--listed", "0"])
    with pytest.raises(SystemExit):
        parse_args(["--running", "-1"])
