"""One ``docker run --rm busybox true`` laid out in time: ``python -m bench.timeline``.

The step breakdown of :mod:`bench.containers` sums durations; this shows
what overlaps and what waits. A cluster is started with
``DOCKYARD_TRACE_FILE`` (services/common/timing.py) so every API request, RPC,
etcd call and timed step of every process is written down with its start on the host's
monotonic clock; ``--runs`` runs of the stock CLI follow, and the spans of the
median run are printed in start order, in milliseconds from the moment the
CLI was spawned, with the CLI's own exit last. A measurement tool, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from bench.containers import IMAGE, Engine, ensure_busybox
from bench.startup import BenchCluster, LauncherError
from services.common.timing import TRACE_ENV


@dataclass(frozen=True)
class Span:
    start: float
    elapsed: float
    pid: int
    kind: str
    name: str


def read_spans(trace_file: Path) -> list[Span]:
    spans = []
    for line in trace_file.read_text().splitlines():
        start, elapsed, pid, kind, name = line.split(" ", 4)
        spans.append(Span(float(start), float(elapsed), int(pid), kind, name))
    return spans


def one_run(engine: Engine, extra: list[str]) -> tuple[float, float]:
    """(start, end) of one CLI run on the perf_counter clock."""
    started = time.perf_counter()
    engine.docker("run", "--rm", *extra, IMAGE, "true")
    return started, time.perf_counter()


def render(spans: list[Span], started: float, ended: float) -> str:
    inside = sorted((s for s in spans if started <= s.start <= ended), key=lambda s: s.start)
    lines = [f"{'from ms':>8} {'to ms':>8} {'ms':>7}  {'pid':>7}  span"]
    for span in inside:
        begin = (span.start - started) * 1000
        lines.append(f"{begin:8.1f} {begin + span.elapsed * 1000:8.1f} "
                     f"{span.elapsed * 1000:7.2f}  {span.pid:7d}  {span.kind} {span.name}")
    lines.append(f"{(ended - started) * 1000:8.1f} {'':8} {'':7}  {'':7}  docker CLI exits")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--network", default="", help="e.g. none; the default network if empty")
    args = parser.parse_args(argv)
    extra = ["--network", args.network] if args.network else []
    with tempfile.TemporaryDirectory(prefix="dockyard-timeline-") as scratch:
        trace_file = Path(scratch) / "trace"
        os.environ[TRACE_ENV] = str(trace_file)
        cluster = BenchCluster.create()
        try:
            asyncio.run(cluster.up(120.0))
            engine = Engine("dockyard", cluster.host, cluster.exec_root)
            ensure_busybox(engine, Path(scratch))
            one_run(engine, extra)  # warm-up
            runs = [one_run(engine, extra) for _ in range(args.runs)]
            time.sleep(0.5)  # background steps of the last run finish
            median = sorted(runs, key=lambda r: r[1] - r[0])[len(runs) // 2]
            print(render(read_spans(trace_file), *median))
        finally:
            with contextlib.suppress(LauncherError, subprocess.SubprocessError):
                cluster.down()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
