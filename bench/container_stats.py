"""``docker stats`` with N running containers: ``python -m bench.container_stats``.

A Dockyard cluster on temporary roots (or ``--dockyard-host``) gets a busybox
image (imported from Debian's busybox-static) and N ``sleep`` containers; with
``--dockerd-socket`` a real dockerd gets the same. Measured on each engine:

- a one-shot sweep: ``GET /containers/{id}/stats?stream=false&one-shot=true``
  for all N at once, from the first request to the last answer (what a
  monitoring agent polling every container pays per round);
- ``docker stats --no-stream`` of the N containers with the stock CLI, wall
  time (it includes the engines' one-second wait between the two reads that
  CPU % needs, so about 1 s is the floor for both).

Containers and the image are removed afterwards. Results go to
bench/results/stats/*.json. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import docker

from bench.api_latency import Endpoint
from bench.report import Row, render_table, write_results
from bench.startup import BenchCluster, LauncherError
from bench.stats import median
from tests.support.busybox import cached_busybox_rootfs_tar

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DOCKER_CLI = "/usr/local/bin/docker"
IMAGE = "dockyard-bench-busybox:stats"


class Engine:
    """N sleeping containers on one engine, made on entry and removed on exit."""

    def __init__(self, host: str, count: int, rootfs_tar: Path) -> None:
        self.host = host
        self.count = count
        self.rootfs_tar = rootfs_tar
        self.client = docker.DockerClient(base_url=host, timeout=300)
        self.ids: list[str] = []
        self.label = f"dockyard-bench-stats={uuid.uuid4().hex[:8]}"

    def __enter__(self) -> Engine:
        repository, tag = IMAGE.split(":")
        self.client.api.import_image(src=str(self.rootfs_tar), repository=repository, tag=tag)
        key, value = self.label.split("=")
        for _ in range(self.count):
            container = self.client.containers.run(IMAGE, ["sleep", "3600"], detach=True,
                                                   labels={key: value})
            self.ids.append(str(container.id))
        return self

    def __exit__(self, *exc: object) -> None:
        for container_id in self.ids:
            with contextlib.suppress(docker.errors.APIError):
                self.client.api.remove_container(container_id, force=True)
        with contextlib.suppress(docker.errors.APIError):
            self.client.images.remove(IMAGE, force=True)
        self.client.close()

    async def sweep(self) -> float:
        """Seconds for one one-shot stats read of every container, all at once."""
        endpoint = Endpoint.parse(self.host)

        async def one(session: Any, container_id: str) -> None:
            path = f"/containers/{container_id}/stats?stream=false&one-shot=true"
            async with session.get(path) as response:
                await response.read()
                response.raise_for_status()

        async with endpoint.session(limit=self.count) as session:
            await one(session, self.ids[0])  # connections warm, code paths loaded
            start = time.perf_counter()
            await asyncio.gather(*(one(session, c) for c in self.ids))
            return time.perf_counter() - start

    def cli_no_stream(self) -> float:
        """Wall seconds of ``docker stats --no-stream`` of the N containers."""
        env = {**os.environ, "DOCKER_HOST": self.host}
        env.pop("DOCKER_CONTEXT", None)
        start = time.perf_counter()
        result = subprocess.run([DOCKER_CLI, "stats", "--no-stream", *self.ids], env=env,
                                capture_output=True, text=True, check=False, timeout=120)
        elapsed = time.perf_counter() - start
        if result.returncode != 0 or len(result.stdout.splitlines()) != self.count + 1:
            raise RuntimeError(f"docker stats failed on {self.host}: {result.stderr.strip()}")
        return elapsed


def measure(engine: Engine, repeat: int) -> tuple[list[float], list[float]]:
    sweeps = [asyncio.run(engine.sweep()) for _ in range(repeat)]
    cli = [engine.cli_no_stream() for _ in range(repeat)]
    return sweeps, cli


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.container_stats", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dockyard-host", metavar="HOST",
                        help="measure this running cluster instead of starting one")
    parser.add_argument("--dockerd-socket", metavar="PATH",
                        help="API socket of a real dockerd to measure the same way")
    parser.add_argument("--containers", type=int, default=20, help="running containers (N)")
    parser.add_argument("--repeat", type=int, default=5, help="rounds of each measure")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.containers < 1:
        parser.error("--repeat and --containers must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    details: dict[str, Any] = {"containers": args.containers, "repeat": args.repeat}
    with tempfile.TemporaryDirectory(prefix="dockyard-bench-stats-") as workdir:
        rootfs = cached_busybox_rootfs_tar(Path(workdir))
        cluster = None if args.dockyard_host else BenchCluster.create()
        try:
            host = args.dockyard_host
            if cluster is not None:
                asyncio.run(cluster.up(120.0))
                host = cluster.host
            with Engine(host, args.containers, rootfs) as ours:
                details["sweep_s"], details["cli_s"] = measure(ours, args.repeat)
            if args.dockerd_socket:
                with Engine(f"unix://{args.dockerd_socket}", args.containers, rootfs) as theirs:
                    details["dockerd_sweep_s"], details["dockerd_cli_s"] = measure(
                        theirs, args.repeat)
        except LauncherError as exc:
            print(f"bench: {exc}", file=sys.stderr)
            return 1
        finally:
            if cluster is not None:
                with contextlib.suppress(LauncherError):
                    cluster.down()

    def pooled(key: str, scale: float) -> float | None:
        values = details.get(key)
        return median(values) * scale if values else None

    n = args.containers
    rows = [
        Row(f"stats one-shot sweep of {n} containers", "ms", pooled("sweep_s", 1000),
            pooled("dockerd_sweep_s", 1000)),
        Row(f"docker stats --no-stream, {n} containers", "ms", pooled("cli_s", 1000),
            pooled("dockerd_cli_s", 1000)),
    ]
    print(render_table(rows))
    path = write_results(args.results_dir / "stats", rows, details)
    print(f"\nresults written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
