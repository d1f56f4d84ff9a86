"""Containers: ``python -m bench.containers [--dockerd-socket PATH]``.

1. ``docker run --rm busybox true`` (the stock CLI), median of ``--runs``, on
   Dockyard and dockerd in turn, with the default network and with
   ``--network none``; then Dockyard's start path broken into steps, from its
   own metrics (:mod:`bench.steps`): the gateway's requests, every service's
   RPCs and the timed steps inside them (``services/common/timing.py``).
2. ``--concurrent`` containers (``sleep``) created and started at once through
   the API: containers per second, create to last start; with each engine's
   default network (a bridge on both with ``--start-dockerd``; a dockerd
   started by hand with ``--bridge none`` has none) and with ``--network
   none`` on both.
3. While those run: the monitor's memory per container, conmon for Dockyard,
   containerd-shim for dockerd (RSS and PSS from /proc).
4. ``docker ps -a`` with ``--listed`` containers (created, not started):
   median CLI latency, and of ``GET /containers/json?all=1`` alone.

Without ``--dockyard-host`` a cluster is started on temporary roots and
stopped afterwards. ``--start-dockerd`` runs a real dockerd beside it for the
measurement, on private roots with a bridge of its own (:mod:`bench.dockerd`),
and stops it afterwards. busybox is imported into each engine from Debian's
busybox-static when missing (tests/support/busybox.py). Results go to
bench/results/containers/*.json. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench import steps
from bench.api_latency import Endpoint
from bench.dockerd import DockerdError, private_dockerd
from bench.report import Row, render_table, write_results
from bench.startup import BenchCluster, LauncherError
from bench.stats import median
from tests.support.busybox import cached_busybox_rootfs_tar

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DOCKER = "docker"
IMAGE = "busybox:latest"
API_CONCURRENCY = 16
"""Client connections used to create or remove many containers (not a measured value)."""
PROC = Path("/proc")
MEASURES = ("run", "concurrent", "ps")


@dataclass(frozen=True)
class Engine:
    name: str
    host: str
    exec_root: Path | None = None
    """Dockyard's exec-root: its metrics and container bundles (None for dockerd)."""

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint.parse(self.host)

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DOCKER_HOST": self.host}
        env.pop("DOCKER_CONTEXT", None)
        return subprocess.run([DOCKER, *args], capture_output=True, text=True, env=env,
                              check=check, timeout=300)


def ensure_busybox(engine: Engine, workdir: Path) -> None:
    if engine.docker("image", "inspect", IMAGE, check=False).returncode == 0:
        return
    tar = cached_busybox_rootfs_tar(workdir)
    engine.docker("import", "--change", 'CMD ["sh"]', str(tar), IMAGE)


# ---- 1. docker run --rm ------------------------------------------------------------------


def timed_run(engine: Engine, extra: tuple[str, ...]) -> float:
    started = time.perf_counter()
    engine.docker("run", "--rm", *extra, IMAGE, "true")
    return time.perf_counter() - started


def run_rm(engines: list[Engine], runs: int, extra: tuple[str, ...]) -> dict[str, list[float]]:
    """``runs`` timed runs per engine, alternating, after one warm-up run each."""
    for engine in engines:
        timed_run(engine, extra)
    samples: dict[str, list[float]] = {e.name: [] for e in engines}
    for n in range(runs):
        for engine in engines if n % 2 == 0 else reversed(engines):
            samples[engine.name].append(timed_run(engine, extra))
    return samples


def start_path_breakdown(engine: Engine, runs: int) -> list[steps.StepTime]:
    """Dockyard's own timings of ``runs`` default ``docker run --rm`` calls."""
    assert engine.exec_root is not None
    metrics_dir = engine.exec_root / "metrics"
    before = steps.snapshot(metrics_dir)
    for _ in range(runs):
        timed_run(engine, ())
    return steps.breakdown(before, steps.snapshot(metrics_dir), runs)


# ---- 2, 3 and 4: many containers through the API ---------------------------------------


async def _request(session: aiohttp.ClientSession, method: str, path: str,
                   body: Any = None) -> Any:
    async with session.request(method, path, json=body) as response:
        text = await response.text()
        if response.status >= 400:
            raise RuntimeError(f"{method} {path}: {response.status} {text.strip()}")
        return json.loads(text) if text.strip() else None


async def _create(session: aiohttp.ClientSession, command: list[str],
                  network: str = "") -> str:
    body: dict[str, Any] = {"Image": IMAGE, "Cmd": command}
    if network:
        body["HostConfig"] = {"NetworkMode": network}
    created = await _request(session, "POST", "/containers/create", body)
    return str(created["Id"])


async def _bounded(calls: list[Callable[[], Awaitable[Any]]], limit: int) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[Any]]) -> Any:
        async with gate:
            return await call()

    return await asyncio.gather(*(one(c) for c in calls))


async def remove_all(engine: Engine, ids: list[str]) -> None:
    async with engine.endpoint.session(limit=API_CONCURRENCY) as session:
        await _bounded([_deleter(session, cid) for cid in ids], API_CONCURRENCY)


def _deleter(session: aiohttp.ClientSession, container_id: str) -> Callable[[], Awaitable[Any]]:
    return lambda: _request(session, "DELETE", f"/containers/{container_id}?force=1")


async def create_and_start(
    engine: Engine, count: int, network: str = ""
) -> tuple[float, list[str]]:
    """Containers per second for ``count`` concurrent create+start calls; their IDs."""
    ids: list[str] = []

    async def one(session: aiohttp.ClientSession) -> None:
        container_id = await _create(session, ["sleep", "3600"], network)
        ids.append(container_id)
        await _request(session, "POST", f"/containers/{container_id}/start")

    async with engine.endpoint.session(limit=count) as session:
        started = time.perf_counter()
        await asyncio.gather(*(one(session) for _ in range(count)))
        wall = time.perf_counter() - started
    return count / wall, ids


async def create_many(engine: Engine, count: int) -> list[str]:
    async with engine.endpoint.session(limit=API_CONCURRENCY) as session:
        return await _bounded([lambda: _create(session, ["true"])] * count, API_CONCURRENCY)


async def list_all_latency(engine: Engine, rounds: int) -> float:
    async with engine.endpoint.session(limit=1) as session:
        samples = []
        for _ in range(rounds):
            started = time.perf_counter()
            await _request(session, "GET", "/containers/json?all=1")
            samples.append(time.perf_counter() - started)
    return median(samples)


def ps_latency(engine: Engine, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        engine.docker("ps", "-a")
        samples.append(time.perf_counter() - started)
    return median(samples)


# ---- monitor memory ----------------------------------------------------------------------


def _cmdline(pid: str) -> list[str]:
    try:
        return (PROC / pid / "cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of one process in KiB."""
    rss = pss = 0
    with contextlib.suppress(OSError):
        for line in (PROC / str(pid) / "status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
        for line in (PROC / str(pid) / "smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


def dockyard_monitors(exec_root: Path, ids: list[str]) -> list[int]:
    pids = []
    for container_id in ids:
        with contextlib.suppress(OSError, ValueError):
            pidfile = exec_root / "execd" / "bundles" / container_id / "conmon.pid"
            pids.append(int(pidfile.read_text().strip()))
    return pids


def dockerd_monitors(ids: list[str]) -> list[int]:
    """containerd-shim processes of the given containers (``-id <container id>``)."""
    wanted = set(ids)
    pids = []
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        argv = _cmdline(entry.name)
        shim = bool(argv) and "containerd-shim" in argv[0] and "-id" in argv
        if shim and argv[argv.index("-id") + 1] in wanted:
            pids.append(int(entry.name))
    return pids


def monitor_memory(engine: Engine, ids: list[str]) -> tuple[float, float] | None:
    """Median (RSS, PSS) in MiB of the monitors of ``ids``; None if none was found."""
    pids = (dockyard_monitors(engine.exec_root, ids) if engine.exec_root is not None
            else dockerd_monitors(ids))
    if not pids:
        return None
    sizes = [memory_kib(pid) for pid in pids]
    return (median([float(r) for r, _ in sizes]) / 1024,
            median([float(p) for _, p in sizes]) / 1024)


# ---- the run -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.containers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dockyard-host", metavar="HOST",
                        help="measure this running cluster instead of starting one")
    parser.add_argument("--exec-root", type=Path, default=Path("/run/dockyard"),
                        help="exec-root of the --dockyard-host cluster (metrics, bundles)")
    parser.add_argument("--dockerd-socket", metavar="PATH",
                        help="API socket of a real dockerd to compare with")
    parser.add_argument("--start-dockerd", action="store_true",
                        help="start a private dockerd with bridge networking to compare "
                             "with, and stop it afterwards (bench/dockerd.py)")
    parser.add_argument("--runs", type=int, default=20, help="docker run --rm per engine")
    parser.add_argument("--concurrent", type=int, default=50,
                        help="containers created and started at once")
    parser.add_argument("--listed", type=int, default=500, help="containers for docker ps -a")
    parser.add_argument("--only", choices=MEASURES, action="append",
                        help="run only this measure (repeatable); default: all")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    args.only = args.only or list(MEASURES)
    if args.start_dockerd and args.dockerd_socket:
        parser.error("--start-dockerd and --dockerd-socket exclude each other")
    if min(args.runs, args.concurrent, args.listed) < 1:
        parser.error("--runs, --concurrent and --listed must be at least 1")
    return args


@contextlib.contextmanager
def dockyard_engine(args: argparse.Namespace) -> Iterator[Engine]:
    if args.dockyard_host:
        yield Engine("dockyard", args.dockyard_host, args.exec_root)
        return
    cluster = BenchCluster.create()
    try:
        asyncio.run(cluster.up(120.0))
        yield Engine("dockyard", cluster.host, cluster.exec_root)
    finally:
        with contextlib.suppress(LauncherError):
            cluster.down()


def measure(args: argparse.Namespace, ours: Engine, theirs: Engine | None,
            workdir: Path) -> tuple[list[Row], dict[str, Any]]:
    engines = [ours] + ([theirs] if theirs else [])
    for engine in engines:
        ensure_busybox(engine, workdir)
    rows: list[Row] = []
    details: dict[str, Any] = {}

    if "run" in args.only:
        rows += run_rm_rows(args, ours, theirs, engines, details)
    if "concurrent" in args.only:
        rows += concurrent_rows(args, engines, details)
    if "ps" in args.only:
        rows += ps_rows(args, engines, details)
    return rows, details


def run_rm_rows(args: argparse.Namespace, ours: Engine, theirs: Engine | None,
                engines: list[Engine], details: dict[str, Any]) -> list[Row]:
    rows = []
    for label, extra in (("", ()), (" --network none", ("--network", "none"))):
        samples = run_rm(engines, args.runs, extra)
        details[f"run_rm{label.replace(' ', '_')}_s"] = samples
        rows.append(Row(f"docker run --rm{label} busybox true, median of {args.runs}", "ms",
                        median(samples["dockyard"]) * 1000,
                        median(samples["dockerd"]) * 1000 if theirs else None))
    breakdown = start_path_breakdown(ours, args.runs)
    details["start_path"] = [s.__dict__ for s in breakdown]
    # Means per run of every timed series: they nest (an API request holds its
    # RPCs, an RPC its steps) and overlap (the gateway runs some at once), so
    # they do not add up to the run.
    rows.append(Row("  per run, nested and concurrent steps overlap:", "ms", None))
    rows += [Row(f"  {s.label} (x{s.calls_per_run:.0f})", "ms", s.ms_per_run)
             for s in breakdown if s.ms_per_run >= 0.5]
    return rows


def concurrent_rows(args: argparse.Namespace, engines: list[Engine],
                    details: dict[str, Any]) -> list[Row]:
    rows = []
    rates: dict[str, dict[str, float]] = {}
    monitors: dict[str, tuple[float, float] | None] = {}
    # Each engine's default network, then --network none on both (a dockerd
    # started by hand with --bridge none has no bridge to put a container on).
    for network in ("", "none"):
        label = f"--network {network}" if network else "default network"
        rates[label] = {}
        for engine in engines:
            rate, ids = asyncio.run(create_and_start(engine, args.concurrent, network))
            rates[label][engine.name] = rate
            if not network:
                monitors[engine.name] = monitor_memory(engine, ids)
            asyncio.run(remove_all(engine, ids))
        rows.append(Row(f"{args.concurrent} created+started at once, {label}", "containers/s",
                        rates[label]["dockyard"], rates[label].get("dockerd")))
    ours_mem, theirs_mem = monitors["dockyard"], monitors.get("dockerd")
    rows.append(Row("monitor RSS per running container", "MiB",
                    ours_mem[0] if ours_mem else None, theirs_mem[0] if theirs_mem else None))
    rows.append(Row("monitor PSS per running container", "MiB",
                    ours_mem[1] if ours_mem else None, theirs_mem[1] if theirs_mem else None))
    details.update(rates=rates, monitors=monitors)
    return rows


def ps_rows(args: argparse.Namespace, engines: list[Engine],
            details: dict[str, Any]) -> list[Row]:
    rows = []
    ps: dict[str, float] = {}
    listing: dict[str, float] = {}
    for engine in engines:
        ids = asyncio.run(create_many(engine, args.listed))
        engine.docker("ps", "-a")  # warm-up
        ps[engine.name] = ps_latency(engine, 10)
        listing[engine.name] = asyncio.run(list_all_latency(engine, 10))
        asyncio.run(remove_all(engine, ids))
    theirs = len(engines) > 1
    rows.append(Row(f"docker ps -a, {args.listed} containers, median", "ms",
                    ps["dockyard"] * 1000, ps["dockerd"] * 1000 if theirs else None))
    rows.append(Row(f"GET /containers/json?all=1, {args.listed} containers", "ms",
                    listing["dockyard"] * 1000, listing["dockerd"] * 1000 if theirs else None))
    details.update(ps_s=ps, list_s=listing)
    return rows


@contextlib.contextmanager
def dockerd_engine(args: argparse.Namespace) -> Iterator[Engine | None]:
    if args.start_dockerd:
        with private_dockerd() as socket:
            args.dockerd_socket = socket
            yield Engine("dockerd", f"unix://{socket}")
        return
    yield Engine("dockerd", f"unix://{args.dockerd_socket}") if args.dockerd_socket else None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="dockyard-bench-containers-") as workdir, \
                dockerd_engine(args) as theirs, dockyard_engine(args) as ours:
            rows, details = measure(args, ours, theirs, Path(workdir))
    except (LauncherError, DockerdError, RuntimeError, subprocess.CalledProcessError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    print(render_table(rows))
    details["settings"] = {"runs": args.runs, "concurrent": args.concurrent,
                           "listed": args.listed, "dockerd_socket": args.dockerd_socket,
                           "dockerd_bridge": bool(args.start_dockerd)}
    path = write_results(args.results_dir / "containers", rows, details)
    print(f"\nresults written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
