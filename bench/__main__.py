"""``python -m bench``: measure a Dockyard cluster, and a real dockerd beside it.

Without ``--dockyard-host`` each round starts a cluster on temporary roots with
``dockyard up --detach``, measures it idle and under a short API loop, and stops
it. With ``--dockerd-socket`` the same API loop runs against that dockerd and
the table shows dockyard/dockerd ratios. Results go to bench/results/*.json.
This is a measurement, not a test: nothing here asserts a target.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import cgroups, memory, netd
from bench.api_latency import Endpoint, measure
from bench.report import Row, render_table, write_results
from bench.startup import BenchCluster, LauncherError, status_json
from bench.stats import LatencySummary, median

PATHS = ("/_ping", "/version")
RESULTS_DIR = Path(__file__).resolve().parent / "results"
# Let the processes finish their start-up work before calling them idle.
SETTLE_S = 1.0


@dataclass
class Findings:
    startup_s: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)
    rss_by_component: list[dict[str, int]] = field(default_factory=list)
    pss_kib: list[int] = field(default_factory=list)
    pss_by_component: list[dict[str, int]] = field(default_factory=list)
    api: dict[str, list[LatencySummary]] = field(default_factory=dict)
    dockerd_api: dict[str, list[LatencySummary]] = field(default_factory=dict)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dockyard-host", metavar="HOST",
                        help="measure this running cluster (unix:///path or tcp://h:p) "
                             "instead of starting one")
    parser.add_argument("--exec-root", type=Path, default=Path("/run/dockyard"),
                        help="exec-root of the --dockyard-host cluster, for its memory")
    parser.add_argument("--dockerd-socket", metavar="PATH",
                        help="API socket of a real dockerd to compare with")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of every measure")
    parser.add_argument("--requests", type=int, default=500, help="requests per API loop")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent API clients")
    parser.add_argument("--startup-timeout", type=float, default=120.0, metavar="SECONDS")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.requests < 1 or args.concurrency < 1:
        parser.error("--repeat, --requests and --concurrency must be at least 1")
    return args


async def measure_api(
    endpoint: Endpoint, args: argparse.Namespace, into: dict[str, list[LatencySummary]]
) -> None:
    for path in PATHS:
        summary = await measure(endpoint, path, args.requests, args.concurrency)
        into.setdefault(path, []).append(summary)


def record_memory(exec_root: Path, findings: Findings) -> None:
    mem = memory.sample(memory.labelled_pids(status_json(exec_root)))
    findings.rss_kib.append(mem.total_kib)
    findings.rss_by_component.append(mem.by_component)
    findings.pss_kib.append(mem.total_pss_kib)
    findings.pss_by_component.append(mem.pss_by_component)


async def own_cluster_round(args: argparse.Namespace, findings: Findings) -> None:
    cluster = BenchCluster.create()
    try:
        findings.startup_s.append(await cluster.up(args.startup_timeout))
        await asyncio.sleep(SETTLE_S)
        record_memory(cluster.exec_root, findings)
        await measure_api(cluster.endpoint, args, findings.api)
    finally:
        try:
            cluster.down()
        except LauncherError as exc:
            # Do not hide the error that ended the round behind this one.
            print(f"bench: {exc}", file=sys.stderr)


async def run(args: argparse.Namespace) -> Findings:
    findings = Findings()
    for round_no in range(1, args.repeat + 1):
        print(f"round {round_no}/{args.repeat}", file=sys.stderr)
        if args.dockyard_host:
            await measure_api(Endpoint.parse(args.dockyard_host), args, findings.api)
            try:
                record_memory(args.exec_root, findings)
            except LauncherError as exc:
                print(f"memory not measured: {exc}", file=sys.stderr)
        else:
            await own_cluster_round(args, findings)
        if args.dockerd_socket:
            await measure_api(Endpoint.parse(args.dockerd_socket), args, findings.dockerd_api)
    return findings


def pooled(summaries: list[LatencySummary] | None) -> tuple[float, float, float] | None:
    """Median of each round's median, p95 and throughput (ms, ms, req/s)."""
    if not summaries:
        return None
    return (
        median([s.median_s for s in summaries]) * 1000,
        median([s.p95_s for s in summaries]) * 1000,
        median([s.requests_per_s for s in summaries]),
    )


def build_rows(findings: Findings) -> list[Row]:
    rows: list[Row] = []
    for path in PATHS:
        ours, theirs = pooled(findings.api.get(path)), pooled(findings.dockerd_api.get(path))
        for i, (what, unit) in enumerate((("median", "ms"), ("p95", "ms"), ("rate", "req/s"))):
            rows.append(Row(f"GET {path} {what}", unit,
                            ours[i] if ours else None, theirs[i] if theirs else None))
    if findings.startup_s:
        rows.append(Row("dockyard up to first /_ping", "ms", median(findings.startup_s) * 1000))
    if findings.rss_kib:
        rows.append(Row("idle RSS, all processes + etcd", "MiB",
                        median([float(k) for k in findings.rss_kib]) / 1024))
        rows.append(Row("idle PSS, all processes + etcd", "MiB",
                        median([float(k) for k in findings.pss_kib]) / 1024))
    return rows


def details(args: argparse.Namespace, findings: Findings) -> dict[str, Any]:
    return {
        "settings": {
            "repeat": args.repeat, "requests": args.requests, "concurrency": args.concurrency,
            "dockyard_host": args.dockyard_host, "dockerd_socket": args.dockerd_socket,
        },
        "machine": {"python": platform.python_version(), "kernel": platform.release(),
                    "cpus": os.cpu_count()},
        "startup_s": findings.startup_s,
        "rss_kib_by_component": findings.rss_by_component,
        "pss_kib_by_component": findings.pss_by_component,
        "api": {p: [s.to_json() for s in v] for p, v in findings.api.items()},
        "dockerd_api": {p: [s.to_json() for s in v] for p, v in findings.dockerd_api.items()},
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        findings = asyncio.run(run(args))
    except LauncherError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    rows = build_rows(findings)
    if os.geteuid() == 0:  # cgroupd's hot paths on the real cgroupfs (bench/cgroups.py)
        rows += cgroups.measure()
        rows += netd.measure()  # netd's endpoint set-up/teardown in the kernel (bench/netd.py)
    print(render_table(rows))
    path = write_results(args.results_dir, rows, details(args, findings))
    print(f"\nresults written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
