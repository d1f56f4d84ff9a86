"""json-file rotation (``max-size``, ``max-file``) as dockerd does it, through the stock CLI.

dockerd keeps up to ``max-file`` files (``<id>-json.log``, ``.1``, ``.2`` …),
``docker logs`` reads them oldest first, and ``docker logs -f`` follows the
output across a rotation. ``max-file`` defaults to 1: the one file is started
afresh at ``max-size``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import MakeCluster
from tests.support.cli_containers import (
    Names,
    ensure_busybox,
    inspect,
    ok,
    poll,
    state,
)
from tests.support.cluster import DOCKER_CLI, Cluster

pytestmark = pytest.mark.root

# Lines of 40 bytes, paced so that several rotations happen while they come.
PACED = "i=0; while [ $i -lt {count} ]; do echo line-$i-abcdefghijklmnopqrstuvwxyz; " \
        "i=$((i+1)); sleep 0.01; done"


def log_path(cluster: Cluster, name: str) -> Path:
    """Where dockerd's json-file driver keeps the log: ``containers/<id>/<id>-json.log``."""
    container_id = str(inspect(cluster, name)["Id"])
    return cluster.data_root / "containers" / container_id / f"{container_id}-json.log"


def test_inspect_names_the_log_file_once_started(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name, silent = names.new("logpath"), names.new("nolog")
    ok(cluster.docker("create", "--name", name, busybox, "echo", "hello"))
    assert inspect(cluster, name)["LogPath"] == ""  # dockerd names it at the first start
    ok(cluster.docker("start", "-a", name))
    shown = Path(inspect(cluster, name)["LogPath"])
    assert shown == log_path(cluster, name)
    assert "hello" in shown.read_text()  # conmon's k8s-file lines, read as json-file
    ok(cluster.docker("run", "--name", silent, "--log-driver", "none", busybox, "true"))
    assert inspect(cluster, silent)["LogPath"] == ""


def log_files(cluster: Cluster, name: str) -> dict[str, int]:
    """The container's log files on disk, by name, with their sizes."""
    path = log_path(cluster, name)
    return {entry.name: entry.stat().st_size for entry in os.scandir(path.parent)
            if entry.name.startswith(path.name)}


def numbers(output: str) -> list[int]:
    return [int(line.split("-")[1]) for line in output.splitlines()]


def exited(cluster: Cluster, name: str) -> bool:
    return bool(state(cluster, name)["Status"] == "exited")


def test_rotation_keeps_max_file_files_and_logs_reads_them_in_order(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("rot")
    ok(cluster.docker("run", "-d", "--name", name, "--log-opt", "max-size=1k",
                      "--log-opt", "max-file=3", busybox, "sh", "-c", PACED.format(count=300)))
    poll(lambda: exited(cluster, name), timeout=90, what="the writer to finish")
    log_name = log_path(cluster, name).name
    files = log_files(cluster, name)
    assert set(files) <= {log_name, f"{log_name}.1", f"{log_name}.2"}, files
    assert f"{log_name}.2" in files, files  # it did rotate, more than once
    assert files[f"{log_name}.1"] <= 1024 and files[f"{log_name}.2"] <= 1024, files
    seen = numbers(ok(cluster.docker("logs", name)))
    # The newest lines, oldest first and without a gap; the first ones rotated away.
    assert seen and seen[-1] == 299, seen
    assert seen == list(range(seen[0], 300)), seen
    assert seen[0] > 0, seen
    tail = numbers(ok(cluster.docker("logs", "--tail", "5", name)))
    assert tail == [295, 296, 297, 298, 299]


def test_logs_follow_across_rotations(cluster: Cluster, busybox: str, names: Names) -> None:
    name = names.new("rotf")
    ok(cluster.docker("create", "--name", name, "--log-opt", "max-size=1k",
                      "--log-opt", "max-file=2", busybox, "sh", "-c",
                      "sleep 1; " + PACED.format(count=200)))
    ok(cluster.docker("start", name))
    env = {**os.environ, "DOCKER_HOST": cluster.docker_host}
    env.pop("DOCKER_CONTEXT", None)
    follower = subprocess.run([DOCKER_CLI, "logs", "-f", name], capture_output=True,
                              text=True, env=env, timeout=120, check=False)
    assert follower.returncode == 0, follower.stderr
    # Every line, once and in order, although the files were rotated under it.
    assert numbers(follower.stdout) == list(range(200))
    log_name = log_path(cluster, name).name
    assert set(log_files(cluster, name)) <= {log_name, f"{log_name}.1"}


def test_max_size_alone_keeps_one_file(cluster: Cluster, busybox: str, names: Names) -> None:
    name = names.new("rot1")
    ok(cluster.docker("run", "--name", name, "--log-opt", "max-size=1k", busybox, "sh", "-c",
                      PACED.format(count=100)))
    log_name = log_path(cluster, name).name
    files = log_files(cluster, name)
    assert set(files) == {log_name}, files
    seen = numbers(ok(cluster.docker("logs", name)))
    assert seen and seen[-1] == 99 and seen[0] > 0, seen
    assert seen == list(range(seen[0], 100)), seen


def test_daemon_log_opts_rotate(make_cluster: MakeCluster,
                                tmp_path_factory: pytest.TempPathFactory) -> None:
    private = make_cluster(daemon_json={"log-opts": {"max-size": "1k", "max-file": "2"}})
    image = ensure_busybox(private, tmp_path_factory)
    ok(private.docker("run", "--name", "daemon-opts", image, "sh", "-c",
                      PACED.format(count=150)))
    log_config = inspect(private, "daemon-opts")["HostConfig"]["LogConfig"]
    assert log_config == {"Type": "json-file", "Config": {"max-size": "1k", "max-file": "2"}}
    log_name = log_path(private, "daemon-opts").name
    files = log_files(private, "daemon-opts")
    assert set(files) == {log_name, f"{log_name}.1"}, files
    seen = numbers(ok(private.docker("logs", "daemon-opts")))
    assert seen[-1] == 149 and seen == list(range(seen[0], 150)) and seen[0] > 0, seen


def test_bad_max_file_is_refused(cluster: Cluster, busybox: str, names: Names) -> None:
    name = names.new("rotbad")
    result = cluster.docker("run", "--name", name, "--log-opt", "max-size=1k",
                            "--log-opt", "max-file=0", busybox, "true")
    assert result.returncode == 125, (result.stdout, result.stderr)
    assert "max-file cannot be less than 1" in result.stderr
    assert state(cluster, name)["Running"] is False
