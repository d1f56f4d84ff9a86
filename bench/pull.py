"""Pull throughput and layer unpacking speed: ``python -m bench.pull``.

1. A local Debian ``docker-registry`` on 127.0.0.1 gets a five-layer image of
   about 100 MB (incompressible file data in 1 MiB files, gzip layers), put
   there with the Registry API directly.
2. A Dockyard cluster on temporary roots pulls it ``--repeat`` times (the
   image is removed between rounds, so every round downloads and unpacks all
   five layers); with ``--dockerd-socket`` a real dockerd pulls the same image
   the same way. Throughput is compressed bytes over the wall time of the pull
   call, from request to the last message.
3. One layer blob is unpacked by imaged's extractor and by GNU tar
   (``tar -xzf``) into fresh directories: MB/s of uncompressed tar bytes.

Results go to bench/results/pull/*.json. A measurement, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gzip
import io
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import docker

from bench.report import Row, render_table, write_results
from bench.startup import BenchCluster, LauncherError
from bench.stats import median
from services.imaged.unpack import unpack
from tests.support.registry import Registry, running_registry
from tests.support.registry_images import MTIME, RegistryWriter

RESULTS_DIR = Path(__file__).resolve().parent / "results"
LAYERS = 5
FILE_BYTES = 1 << 20


def layer_tar(index: int, megabytes: int) -> bytes:
    """``megabytes`` files of random bytes (the same on every run) under ``layer<index>/``."""
    rng = random.Random(index)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        folder = tarfile.TarInfo(f"layer{index}")
        folder.type, folder.mode, folder.mtime = tarfile.DIRTYPE, 0o755, MTIME
        tar.addfile(folder)
        for n in range(megabytes):
            info = tarfile.TarInfo(f"layer{index}/file{n:04d}")
            info.size, info.mode, info.mtime = FILE_BYTES, 0o644, MTIME
            tar.addfile(info, io.BytesIO(rng.randbytes(FILE_BYTES)))
    return buffer.getvalue()


def push_bench_image(registry: Registry, total_mb: int) -> tuple[str, int, list[bytes]]:
    """Push the image; return its name, compressed size and the layer tars."""
    layers = [layer_tar(i, total_mb // LAYERS) for i in range(LAYERS)]
    repository = f"bench-{uuid.uuid4().hex[:8]}"
    RegistryWriter(registry).push_image(repository, "latest", layers, cmd=["true"])
    compressed = sum(len(gzip.compress(layer, compresslevel=6, mtime=0)) for layer in layers)
    return registry.name(repository), compressed, layers


def timed_pull(base_url: str, name: str) -> float:
    """Seconds to pull ``name`` (removed first) through the Engine API."""
    client = docker.APIClient(base_url=base_url, version="auto", timeout=600)
    try:
        with contextlib.suppress(docker.errors.ImageNotFound):
            client.remove_image(name, force=True)
        start = time.perf_counter()
        for message in client.pull(name, tag="latest", stream=True, decode=True):
            if "error" in message:
                raise RuntimeError(f"pull failed: {message['error']}")
        elapsed = time.perf_counter() - start
        client.remove_image(name, force=True)
        return elapsed
    finally:
        client.close()


def unpack_rates(layer: bytes, workdir: Path, repeat: int) -> tuple[float, float]:
    """MB/s of imaged's extractor and of GNU tar on one gzip layer (uncompressed bytes)."""
    blob = workdir / "layer.tar.gz"
    blob.write_bytes(gzip.compress(layer, compresslevel=6, mtime=0))
    ours: list[float] = []
    gnu: list[float] = []
    for n in range(repeat):
        target = workdir / f"ours{n}"
        target.mkdir()
        with blob.open("rb") as source:
            start = time.perf_counter()
            unpack(source, str(target))
            ours.append(time.perf_counter() - start)
        target = workdir / f"tar{n}"
        target.mkdir()
        start = time.perf_counter()
        subprocess.run(["tar", "-xzf", str(blob), "-C", str(target)], check=True)
        gnu.append(time.perf_counter() - start)
        shutil.rmtree(workdir / f"ours{n}")
        shutil.rmtree(target)
    megabytes = len(layer) / 1e6
    return megabytes / median(ours), megabytes / median(gnu)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.pull", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dockerd-socket", metavar="PATH",
                        help="API socket of a real dockerd to pull the same image with")
    parser.add_argument("--repeat", type=int, default=3, help="pulls per engine")
    parser.add_argument("--size-mb", type=int, default=100, help="image size (5 layers)")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.size_mb < LAYERS:
        parser.error(f"--repeat must be at least 1 and --size-mb at least {LAYERS}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    ours: list[float] = []
    theirs: list[float] = []
    with running_registry() as registry:
        name, compressed, layers = push_bench_image(registry, args.size_mb)
        cluster = BenchCluster.create()
        try:
            asyncio.run(cluster.up(120.0))
            for _ in range(args.repeat):
                ours.append(timed_pull(cluster.host, name))
                if args.dockerd_socket:
                    theirs.append(timed_pull(f"unix://{args.dockerd_socket}", name))
        except LauncherError as exc:
            print(f"bench: {exc}", file=sys.stderr)
            return 1
        finally:
            with contextlib.suppress(LauncherError):
                cluster.down()
    with tempfile.TemporaryDirectory(prefix="dockyard-bench-unpack-") as workdir:
        ours_unpack, tar_unpack = unpack_rates(layers[0], Path(workdir), args.repeat)
    megabytes = compressed / 1e6
    rows = [
        Row(f"pull {LAYERS} layers, {megabytes:.0f} MB, median", "s", median(ours),
            median(theirs) if theirs else None),
        Row("pull throughput", "MB/s", megabytes / median(ours),
            megabytes / median(theirs) if theirs else None),
        Row("unpack one layer: imaged", "MB/s", ours_unpack),
        Row("unpack one layer: GNU tar -xzf", "MB/s", tar_unpack),
    ]
    print(render_table(rows))
    details: dict[str, Any] = {"pull_s": ours, "dockerd_pull_s": theirs,
                               "compressed_bytes": compressed,
                               "layer_bytes": [len(layer) for layer in layers]}
    path = write_results(args.results_dir / "pull", rows, details)
    print(f"\nresults written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
