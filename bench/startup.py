"""A throwaway Dockyard cluster on temporary roots, started through the launcher CLI."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.api_latency import Endpoint, wait_for_ping
from tests.support.netclean import remove_cluster_network, unique_network_settings


class LauncherError(RuntimeError):
    pass


def launcher_command(*args: str) -> list[str]:
    # The module, not the console script: works whether or not the venv is on PATH.
    return [sys.executable, "-m", "launcher", *args]


@dataclass
class BenchCluster:
    root: Path

    @property
    def data_root(self) -> Path:
        return self.root / "data"

    @property
    def exec_root(self) -> Path:
        return self.root / "exec"

    @property
    def config_file(self) -> Path:
        return self.root / "daemon.json"

    @property
    def host(self) -> str:
        return f"unix://{self.exec_root}/docker.sock"

    @property
    def endpoint(self) -> Endpoint:
        return Endpoint.parse(self.host)

    @classmethod
    def create(cls) -> BenchCluster:
        root = Path(tempfile.mkdtemp(prefix="dockyard-bench-"))
        cluster = cls(root)
        # A daemon.json of our own: the host's /etc/dockyard/daemon.json must not
        # leak into the measurement, and the bench cluster's bridge and chains must
        # not clash with a cluster already running on the host (dockyard0).
        cluster.config_file.write_text(json.dumps(unique_network_settings()) + "\n")
        return cluster

    @property
    def chain_prefix(self) -> str:
        return str(json.loads(self.config_file.read_text())["iptables-chain-prefix"])

    def up_args(self) -> list[str]:
        return launcher_command(
            "up", "--detach",
            "--config-file", str(self.config_file),
            "--data-root", str(self.data_root),
            "--exec-root", str(self.exec_root),
            "-H", self.host,
        )

    async def up(self, timeout_s: float) -> float:
        """Start the cluster; return seconds from spawning ``dockyard up`` to the first /_ping."""
        start = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            *self.up_args(), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        ping = asyncio.ensure_future(wait_for_ping(self.endpoint, timeout_s))
        _, stderr = await process.communicate()
        if process.returncode != 0:
            ping.cancel()
            raise LauncherError(
                f"dockyard up failed ({process.returncode}): {stderr.decode(errors='replace')}"
            )
        return await ping - start

    def status(self) -> Any:
        return status_json(self.exec_root)

    def down(self) -> None:
        """Stop the cluster; remove its roots only when it stopped cleanly."""
        result = _run(launcher_command("down", "--exec-root", str(self.exec_root)))
        if result[0] != 0:
            raise LauncherError(f"dockyard down failed; leaving {self.root}: {result[1]}")
        # The default bridge outlives the cluster (as docker0 does); a bench
        # cluster is throwaway, so its links and chains go with it.
        remove_cluster_network(self.chain_prefix)
        shutil.rmtree(self.root, ignore_errors=True)


def _run(args: list[str]) -> tuple[int, str, str]:
    """(exit code, stderr, stdout) of a short launcher command."""
    done = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    return done.returncode, done.stderr, done.stdout


def status_json(exec_root: Path) -> Any:
    """``dockyard status --format json``; the launcher's state file when that fails."""
    code, stderr, stdout = _run(
        launcher_command("status", "--format", "json", "--exec-root", str(exec_root))
    )
    if code == 0 and stdout.strip():
        return json.loads(stdout)
    state = exec_root / "launcher.json"
    if state.exists():
        return json.loads(state.read_text())
    raise LauncherError(f"dockyard status failed ({code}): {stderr}")
