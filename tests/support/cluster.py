"""A real Dockyard cluster in temporary roots, started with ``dockyard up --detach``.

Every cluster lives under its own ``/tmp/dockyard-test-XXXX`` directory (kept
short: a unix socket path must fit in 107 bytes), so clusters never share a
file with each other or with a Dockyard installed on the host. :meth:`Cluster.stop`
tears it down even when the launcher is already gone or half started.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker

from services.common.paths import SERVICE_NAMES, ClusterPaths
from tests.support.netclean import remove_cluster_network, unique_network_settings

API_VERSION = "1.47"
LAUNCHER = (sys.executable, "-m", "launcher")
DOCKER_CLI = shutil.which("docker") or "/usr/local/bin/docker"
COMPONENTS = ("etcd", *SERVICE_NAMES, "gateway")
# Launcher commands that take the roots of the cluster as flags.
_UP_COMMANDS = frozenset({"up"})
_EXEC_ROOT_COMMANDS = frozenset({"down", "status"})


def new_base() -> Path:
    """A fresh directory for one cluster's roots and daemon.json."""
    return Path(tempfile.mkdtemp(prefix="dockyard-test-", dir="/tmp"))


@dataclass
class Cluster:
    """One cluster's roots, socket, and the commands to drive it."""

    base: Path
    daemon_json: dict[str, Any] = field(default_factory=dict)
    extra_args: tuple[str, ...] = ()
    host: str | None = None
    """The -H to listen on; default unix://<exec-root>/docker.sock."""

    @property
    def data_root(self) -> Path:
        return self.base / "data"

    @property
    def exec_root(self) -> Path:
        return self.base / "exec"

    @property
    def config_file(self) -> Path:
        return self.base / "daemon.json"

    @property
    def socket(self) -> Path:
        return Path(self.docker_host[len("unix://") :])

    @property
    def docker_host(self) -> str:
        return self.host or f"unix://{self.exec_root}/docker.sock"

    @property
    def paths(self) -> ClusterPaths:
        return ClusterPaths(self.data_root, self.exec_root)

    @property
    def log_file(self) -> Path:
        return self.data_root / "logs" / "dockyard.log"

    # ---- the launcher -----------------------------------------------------------

    def launcher_args(self, *args: str) -> list[str]:
        """``args`` with this cluster's roots added (up: all of them; down/status: exec-root)."""
        command = args[0] if args else ""
        if command in _UP_COMMANDS:
            return [
                command, "--config-file", str(self.config_file),
                "--data-root", str(self.data_root), "--exec-root", str(self.exec_root),
                "-H", self.docker_host, *self.extra_args, *args[1:],
            ]
        if command in _EXEC_ROOT_COMMANDS:
            return [command, "--exec-root", str(self.exec_root), *args[1:]]
        return list(args)

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``dockyard <args>`` for this cluster; never raises on a non-zero exit."""
        self.config_file.write_text(json.dumps(self.daemon_json))
        return subprocess.run(
            [*LAUNCHER, *self.launcher_args(*args)],
            capture_output=True, text=True, timeout=timeout, check=False,
        )

    def start(self) -> None:
        """``dockyard up --detach``; raises with the launcher's words when it fails."""
        result = self.run("up", "--detach")
        if result.returncode != 0:
            raise RuntimeError(
                f"dockyard up failed ({result.returncode}): {result.stderr.strip()}\n"
                f"log tail:\n{self.log_tail()}"
            )

    def down(self) -> subprocess.CompletedProcess[str]:
        return self.run("down")

    def status(self) -> dict[str, Any]:
        """``dockyard status --format json``, parsed."""
        result = self.run("status", "--format", "json")
        report: dict[str, Any] = json.loads(result.stdout)
        return report

    def state(self) -> dict[str, Any]:
        """launcher.json as written by the launcher (cheaper than status: no probes)."""
        try:
            data: dict[str, Any] = json.loads(self.paths.launcher_state.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return data

    def pid_of(self, component: str) -> int | None:
        """The pid the launcher recorded for ``component`` (None while it is not running)."""
        pid = self.state().get("components", {}).get(component, {}).get("pid")
        return int(pid) if pid is not None else None

    def launcher_pid(self) -> int | None:
        with contextlib.suppress(FileNotFoundError, ValueError):
            return int(self.paths.launcher_pid.read_text().strip())
        return None

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        return ""

    # ---- clients ----------------------------------------------------------------

    def client(self) -> docker.DockerClient:
        return docker.DockerClient(base_url=self.docker_host, version=API_VERSION, timeout=120)

    def docker(self, *args: str, timeout: float = 120,
               input: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run the docker CLI against this cluster."""
        env = {**os.environ, "DOCKER_HOST": self.docker_host}
        env.pop("DOCKER_CONTEXT", None)
        return subprocess.run(
            [DOCKER_CLI, *args], capture_output=True, text=True, timeout=timeout,
            env=env, input=input, check=False,
        )

    # ---- teardown -----------------------------------------------------------------

    def stop(self) -> None:
        """Stop the cluster and remove its roots, whatever state it is in."""
        if os.environ.get("DOCKYARD_TEST_LOGS"):
            # Debugging aid: keep a copy of the cluster's log beside the roots.
            with contextlib.suppress(OSError):
                shutil.copy(self.log_file, f"{self.base}.log")
        try:
            if self.launcher_pid() is not None:
                self._remove_containers()
                self.run("down", timeout=150)
        finally:
            _delete_runc_containers(self.exec_root / "runc")
            _kill_processes_under(self.base)
            _unmount_under(self.base)
            shutil.rmtree(self.base, ignore_errors=True)
            parent = self.daemon_json.get("cgroup-parent")
            if isinstance(parent, str) and parent.startswith("dy-dockyard-test-"):
                _remove_cgroup_parent(parent)
            prefix = self.daemon_json.get("iptables-chain-prefix")
            if isinstance(prefix, str):
                remove_cluster_network(prefix)

    def _remove_containers(self) -> None:
        # Containers outlive the cluster by design (live-restore): remove the ones
        # tests left behind so no process or mount keeps the roots busy.
        with contextlib.suppress(Exception):
            client = self.client()
            try:
                for container in client.containers.list(all=True):
                    with contextlib.suppress(Exception):
                        container.remove(force=True)
            finally:
                client.close()


def _cmdline(pid: int) -> str:
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace"
        )
    return ""


def _remove_cgroup_parent(parent: str) -> None:
    """rmdir the test cluster's cgroup parent (and leftovers below it) in every hierarchy."""
    root = Path("/sys/fs/cgroup")
    for hierarchy in [root, *(p for p in root.iterdir() if p.is_dir())]:
        top = hierarchy / parent
        if not top.is_dir():
            continue
        for directory in sorted((d for d in top.rglob("*") if d.is_dir()), reverse=True):
            with contextlib.suppress(OSError):
                directory.rmdir()
        with contextlib.suppress(OSError):
            top.rmdir()


def _delete_runc_containers(runc_root: Path) -> None:
    """Kill and forget the containers of this cluster's own runc root (none of the host's)."""
    if not runc_root.is_dir():
        return
    for state in runc_root.iterdir():
        subprocess.run(["runc", "--root", str(runc_root), "delete", "--force", state.name],
                       capture_output=True, check=False, timeout=30)


def _kill_processes_under(base: Path) -> None:
    """SIGKILL leftovers of this cluster: processes whose command line names its unique base.

    Only this cluster's processes can name its freshly created temporary path,
    so nothing else on the host is touched.
    """
    marker = str(base) + "/"
    me = os.getpid()
    for _ in range(3):
        found = False
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) == me:
                continue
            if marker in _cmdline(int(entry.name)):
                found = True
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(entry.name), signal.SIGKILL)
        if not found:
            return
        time.sleep(0.2)


def _unmount_under(base: Path) -> None:
    """Lazily unmount anything (overlay rootfs, netns binds) left mounted under ``base``."""
    prefix = str(base) + "/"
    with contextlib.suppress(OSError):
        mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
        for mount_point in sorted((m for m in mounts if m.startswith(prefix)), reverse=True):
            subprocess.run(["umount", "-l", mount_point], capture_output=True, check=False)


def start_cluster(
    *,
    daemon_json: dict[str, Any] | None = None,
    extra_args: tuple[str, ...] = (),
    host: str | None = None,
    start: bool = True,
) -> Cluster:
    """A cluster in fresh temporary roots, started unless ``start`` is False.

    The caller owns it: call :meth:`Cluster.stop` (also when start-up fails,
    which this function does itself).
    """
    # Unique bridge and chain names unless the test chose its own (see netclean).
    base = new_base()
    # Its own cgroup parent too, removed at teardown (cgroupd leaves the parent).
    own = {**unique_network_settings(), "cgroup-parent": f"dy-{base.name}"}
    settings = {**own, **(daemon_json or {})}
    cluster = Cluster(base, daemon_json=settings, extra_args=extra_args, host=host)
    if start:
        try:
            cluster.start()
        except BaseException:
            cluster.stop()
            raise
    return cluster


def stop_cluster(cluster: Cluster) -> None:
    cluster.stop()


def private_cluster_fixture() -> Any:
    """A module-scoped ``cluster`` fixture of its own, for tests whose expectations
    (e.g. "Pulling fs layer" rather than "Already exists") depend on a cluster no
    other test has pulled into."""
    import pytest

    @pytest.fixture(scope="module")
    def cluster() -> Any:
        started = start_cluster()
        try:
            yield started
        finally:
            started.stop()

    return cluster
