"""Containers keep working across a kill -9 of etcd (the launcher starts it again).

Every service answers reads of its own keys from memory (services/common/owned_keys.py)
and writes through to etcd: while etcd is away a write fails, and once it is back
the services go on with what etcd holds. What a user sees: a container that ran
before runs on, and containers are made, started, listed and removed as before.
"""

from __future__ import annotations

import json
import os
import signal
import time
from typing import Any

import pytest

from tests.conftest import MakeCluster
from tests.support.cli_containers import ensure_busybox
from tests.support.cluster import Cluster

pytestmark = pytest.mark.root

BACK_DEADLINE = 30.0


def etcd_back(cluster: Cluster, old_pid: int) -> None:
    deadline = time.monotonic() + BACK_DEADLINE
    while time.monotonic() < deadline:
        pid = cluster.pid_of("etcd")
        if pid not in (None, old_pid) and \
                cluster.status()["components"]["etcd"]["health"] == "healthy":
            return
        time.sleep(0.1)
    pytest.fail(f"etcd not back within {BACK_DEADLINE}s\n{cluster.log_tail()}")


def inspect(cluster: Cluster, name: str) -> Any:
    result = cluster.docker("inspect", name)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)[0]


def test_containers_work_after_etcd_was_killed(
    make_cluster: MakeCluster, tmp_path_factory: pytest.TempPathFactory
) -> None:
    cluster = make_cluster()
    ensure_busybox(cluster, tmp_path_factory)
    before = cluster.docker("run", "-d", "--name", "before", "busybox", "sleep", "600")
    assert before.returncode == 0, before.stderr
    address = inspect(cluster, "before")["NetworkSettings"]["IPAddress"]

    old_pid = cluster.pid_of("etcd")
    assert old_pid is not None
    os.kill(old_pid, signal.SIGKILL)
    etcd_back(cluster, old_pid)

    # The first calls may meet a service whose etcd connection is coming back.
    deadline = time.monotonic() + BACK_DEADLINE
    while (once := cluster.docker("run", "--rm", "busybox", "echo", "ok")).returncode != 0:
        assert time.monotonic() < deadline, once.stderr
        time.sleep(0.5)
    assert once.stdout == "ok\n"

    after = cluster.docker("run", "-d", "--name", "after", "busybox", "sleep", "600")
    assert after.returncode == 0, after.stderr
    running = {name: inspect(cluster, name) for name in ("before", "after")}
    assert all(d["State"]["Running"] for d in running.values())
    # Leases came through: the new container got an address of its own.
    other = running["after"]["NetworkSettings"]["IPAddress"]
    assert other and other != address
    listed = cluster.docker("ps", "-a", "--format", "{{.Names}}")
    assert sorted(listed.stdout.split()) == ["after", "before"]

    removed = cluster.docker("rm", "-f", "before", "after")
    assert removed.returncode == 0, removed.stderr
    assert cluster.docker("ps", "-aq").stdout.strip() == ""
    # Their names are free again.
    again = cluster.docker("run", "--rm", "--name", "before", "busybox", "true")
    assert again.returncode == 0, again.stderr
