"""Reading the container API with many containers: ``python -m bench.container_reads``.

Issue 7's targets, measured on Dockyard and, with ``--dockerd-socket``, on a
real dockerd the same way (ratios dockyard/dockerd: above 1 is better for
requests/s, below 1 for times):

1. ``--listed`` containers (500; created, not started) through the API, then
   requests/s of ``GET /containers/{id}/json`` (the IDs in turn) and of
   ``GET /containers/json?all=1``, ``--concurrency`` clients on kept-alive
   connections, after a warm-up;
2. ``--running`` containers (100, ``sleep``) created and started, then the wall
   time of ``docker stats --no-stream`` over them with the stock CLI (it
   includes the engines' one-second wait between the two reads CPU % needs).

Each engine gets busybox from Debian's busybox-static when missing; the
containers made are removed afterwards. Without ``--dockyard-host`` a cluster
is started on temporary roots and stopped afterwards. Results go to
bench/results/reads/*.json. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import aiohttp

from bench.api_latency import Endpoint
from bench.containers import (
    Engine,
    create_and_start,
    create_many,
    dockyard_engine,
    ensure_busybox,
    remove_all,
)
from bench.report import Row, render_table, write_results
from bench.startup import LauncherError
from bench.stats import median

RESULTS_DIR = Path(__file__).resolve().parent / "results"
LIST_PATH = "/containers/json?all=1"
WARMUP = 20
STATS_TIMEOUT_S = 300


def inspect_paths(ids: Sequence[str], count: int) -> list[str]:
    """``count`` inspect paths taking the IDs in turn, so every container is read."""
    if not ids:
        raise ValueError("no containers to inspect")
    cycle = itertools.cycle(ids)
    return [f"/containers/{next(cycle)}/json" for _ in range(count)]


def per_second(count: int, wall_s: float) -> float:
    if wall_s <= 0:
        raise ValueError("a measured wall time must be positive")
    return count / wall_s


def stats_lines_ok(output: str, containers: int) -> bool:
    """``docker stats --no-stream`` prints a header and one line per container."""
    return len([line for line in output.splitlines() if line.strip()]) == containers + 1


def pooled(samples: dict[str, list[float]], engine: str, scale: float = 1.0) -> float | None:
    values = samples.get(engine)
    return median(values) * scale if values else None


def result_rows(args: argparse.Namespace, samples: dict[str, dict[str, list[float]]]) -> list[Row]:
    """The table: each measure's median over the rounds, dockerd's beside Dockyard's."""
    inspect, listing, stats = (samples.get(k, {}) for k in ("inspect", "list", "stats"))
    rows = []
    if inspect or listing:
        rows.append(Row(f"GET /containers/{{id}}/json, {args.listed} containers", "req/s",
                        pooled(inspect, "dockyard"), pooled(inspect, "dockerd")))
        rows.append(Row(f"GET /containers/json?all=1, {args.listed} containers", "req/s",
                        pooled(listing, "dockyard"), pooled(listing, "dockerd")))
    if stats:
        rows.append(Row(f"docker stats --no-stream, {args.running} running", "ms",
                        pooled(stats, "dockyard", 1000), pooled(stats, "dockerd", 1000)))
    return rows


async def _get(session: aiohttp.ClientSession, path: str) -> None:
    async with session.get(path) as response:
        await response.read()
        response.raise_for_status()  # a failing endpoint would otherwise look fast


async def throughput(endpoint: Endpoint, paths: Sequence[str], concurrency: int) -> float:
    """Requests per second of GETs of ``paths`` by ``concurrency`` workers."""
    async with endpoint.session(limit=concurrency) as session:
        for path in paths[:WARMUP]:
            await _get(session, path)
        pending = iter(paths)

        async def worker() -> None:
            for path in pending:
                await _get(session, path)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return per_second(len(paths), time.perf_counter() - started)


def read_rounds(engine: Engine, args: argparse.Namespace,
                samples: dict[str, dict[str, list[float]]]) -> None:
    ids = asyncio.run(create_many(engine, args.listed))
    try:
        for _ in range(args.repeat):
            rate = asyncio.run(throughput(engine.endpoint, inspect_paths(ids, args.requests),
                                          args.concurrency))
            samples["inspect"].setdefault(engine.name, []).append(rate)
            rate = asyncio.run(throughput(engine.endpoint, [LIST_PATH] * args.requests,
                                          args.concurrency))
            samples["list"].setdefault(engine.name, []).append(rate)
    finally:
        asyncio.run(remove_all(engine, ids))


def stats_rounds(engine: Engine, args: argparse.Namespace,
                 samples: dict[str, dict[str, list[float]]]) -> None:
    _, ids = asyncio.run(create_and_start(engine, args.running))
    try:
        engine.docker("stats", "--no-stream", *ids[:1])  # warm-up
        for _ in range(args.repeat):
            started = time.perf_counter()
            result = engine.docker("stats", "--no-stream", *ids)
            elapsed = time.perf_counter() - started
            if not stats_lines_ok(result.stdout, len(ids)):
                raise RuntimeError(f"docker stats on {engine.name} printed:\n{result.stdout}")
            samples["stats"].setdefault(engine.name, []).append(elapsed)
    finally:
        asyncio.run(remove_all(engine, ids))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.container_reads", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dockyard-host", metavar="HOST",
                        help="measure this running cluster instead of starting one")
    parser.add_argument("--exec-root", type=Path, default=Path("/run/dockyard"),
                        help="exec-root of the --dockyard-host cluster")
    parser.add_argument("--dockerd-socket", metavar="PATH",
                        help="API socket of a real dockerd to measure the same way")
    parser.add_argument("--listed", type=int, default=500,
                        help="created containers for the inspect and list measures")
    parser.add_argument("--running", type=int, default=100,
                        help="running containers for docker stats (0 skips it)")
    parser.add_argument("--requests", type=int, default=2000, help="GETs per round")
    parser.add_argument("--concurrency", type=int, default=8, help="concurrent API clients")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of every measure")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if min(args.listed, args.requests, args.concurrency, args.repeat) < 1 or args.running < 0:
        parser.error("--listed, --requests, --concurrency and --repeat must be at least 1")
    return args


@contextlib.contextmanager
def engines(args: argparse.Namespace) -> Iterator[list[Engine]]:
    with dockyard_engine(args) as ours:
        theirs = [Engine("dockerd", f"unix://{args.dockerd_socket}")] \
            if args.dockerd_socket else []
        yield [ours, *theirs]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    samples: dict[str, dict[str, list[float]]] = {"inspect": {}, "list": {}, "stats": {}}
    try:
        with tempfile.TemporaryDirectory(prefix="dockyard-bench-reads-") as workdir, \
                engines(args) as measured:
            for engine in measured:
                ensure_busybox(engine, Path(workdir))
                read_rounds(engine, args, samples)
                if args.running:
                    stats_rounds(engine, args, samples)
    except (LauncherError, RuntimeError, subprocess.CalledProcessError,
            aiohttp.ClientError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    rows = result_rows(args, samples)
    print(render_table(rows))
    details: dict[str, Any] = {
        "samples": samples,
        "settings": {"listed": args.listed, "running": args.running, "requests": args.requests,
                     "concurrency": args.concurrency, "repeat": args.repeat,
                     "dockerd_socket": args.dockerd_socket},
    }
    path = write_results(args.results_dir / "reads", rows, details)
    print(f"\nresults written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
