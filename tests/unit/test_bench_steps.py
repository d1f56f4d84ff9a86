"""The start-path breakdown of ``bench.containers``: Dockyard's own timings, per run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench.steps import StepTime, Totals, breakdown, label_text, snapshot

ROOT = Path(__file__).resolve().parents[2]


def test_breakdown_is_the_mean_per_run_of_what_moved() -> None:
    before = {("f", "step a"): Totals(1.0, 2), ("f", "step b"): Totals(0.5, 1),
              ("f", "step idle"): Totals(3.0, 3)}
    after = {("f", "step a"): Totals(1.4, 6), ("f", "step b"): Totals(1.5, 3),
             ("f", "step idle"): Totals(3.0, 3), ("f", "step new"): Totals(0.2, 2)}
    assert breakdown(before, after, runs=2) == [
        StepTime("step b", 500.0, 1.0),
        StepTime("step a", pytest.approx(200.0), 2.0),  # type: ignore[arg-type]
        StepTime("step new", 100.0, 1.0),
    ]


def test_breakdown_needs_runs() -> None:
    with pytest.raises(ValueError):
        breakdown({}, {}, runs=0)


def test_series_names() -> None:
    assert label_text("dockyard_step_seconds", {"step": "execd.create"}) == "step execd.create"
    assert label_text("dockyard_grpc_server_handling_seconds",
                      {"service": "dockyard.execd.v1.Runtime", "method": "StartContainer"}) \
        == "rpc execd StartContainer"
    assert label_text("dockyard_gateway_request_seconds",
                      {"method": "POST", "route": "/containers/{id}/start"}) \
        == "api POST /containers/{id}/start"


def test_snapshot_reads_what_processes_wrote(tmp_path: Path) -> None:
    """A process observes steps the way the services do; the snapshot finds them."""
    script = (
        "from services.common.timing import timed\n"
        "for _ in range(3):\n"
        "    with timed('execd.create'):\n"
        "        pass\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, check=True)
    found = snapshot(tmp_path)
    totals = found[("dockyard_step_seconds", "step execd.create")]
    assert totals.count == 3
    assert 0 <= totals.seconds < 1
