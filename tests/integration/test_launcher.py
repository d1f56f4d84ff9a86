"""``dockyard up/down/status`` against the real thing: etcd, the services, the gateway.

Each test that changes a cluster (kills, restarts, stops) gets its own from
``make_cluster``; all of them are stopped and their roots removed afterwards.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from services.common.paths import SERVICE_NAMES
from tests.conftest import MakeCluster
from tests.support.cluster import COMPONENTS, LAUNCHER, Cluster
from tests.support.cluster_etcd import etcd_endpoints, etcd_get, etcd_put

pytestmark = pytest.mark.root

RESTART_DEADLINE = 2.0
TEST_PREFIX = "launcher-tests/"


def grpc_health(socket: Path, timeout: float = 0.5) -> str:
    """The overall serving status of the service on ``socket`` ("UNREACHABLE" if none)."""
    with grpc.insecure_channel(f"unix:{socket}") as channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=""), timeout=timeout
            )
        except grpc.RpcError:
            return "UNREACHABLE"
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(reply.status))


def pings(cluster: Cluster) -> bool:
    client = cluster.client()
    try:
        return bool(client.ping())
    except Exception:
        return False
    finally:
        client.close()


def pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            # A zombie has exited already; only its parent has not reaped it yet.
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def wait_until_gone(pids: list[int], timeout: float = 15.0) -> list[int]:
    deadline = time.monotonic() + timeout
    alive = [p for p in pids if pid_alive(p)]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [p for p in alive if pid_alive(p)]
    return alive


def component_pids(cluster: Cluster) -> dict[str, int]:
    pids = {name: cluster.pid_of(name) for name in COMPONENTS}
    assert all(pids.values()), pids
    return {name: pid for name, pid in pids.items() if pid is not None}


def assert_one_line_error(result: subprocess.CompletedProcess[str], text: str) -> None:
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert text in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


# ---- a running cluster ---------------------------------------------------------


def test_up_serves_every_component(cluster: Cluster) -> None:
    for name in SERVICE_NAMES:
        assert grpc_health(cluster.paths.service_socket(name)) == "SERVING", name
    assert pings(cluster)

    report = cluster.status()
    assert report["running"] is True
    assert report["launcher"]["state"] == "ready"
    assert list(report["components"]) == list(COMPONENTS)
    for name, component in report["components"].items():
        assert isinstance(component["pid"], int) and pid_alive(component["pid"]), name
        assert component["uptime"] is not None and component["uptime"] >= 0, name
    assert report["components"]["etcd"]["health"] == "healthy"
    assert report["components"]["gateway"]["health"] == "healthy"
    for name in SERVICE_NAMES:
        assert report["components"][name]["health"] == "SERVING"


def test_status_table(cluster: Cluster) -> None:
    result = cluster.run("status")
    assert result.returncode == 0, result.stderr
    for name in COMPONENTS:
        assert name in result.stdout


def test_runtime_files(cluster: Cluster) -> None:
    assert cluster.paths.runtime_config.exists()
    assert cluster.paths.metrics_dir.is_dir()
    assert cluster.launcher_pid() == cluster.status()["launcher"]["pid"]
    assert cluster.log_file.exists()


def test_up_detach_is_fast(make_cluster: MakeCluster) -> None:
    created = make_cluster(start=False)
    started = time.monotonic()
    result = created.run("up", "--detach")
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"export DOCKER_HOST={created.docker_host}"
    assert pings(created)
    # The target is 3 s on an idle 2-core machine; leave room for a busy CI host.
    assert elapsed < 8.0, f"up --detach took {elapsed:.2f}s"


# ---- supervision ---------------------------------------------------------------


def _wait_back(cluster: Cluster, name: str, old_pid: int, killed_at: float) -> float:
    """Seconds from the kill until ``name`` runs again under a new pid and serves."""
    deadline = killed_at + RESTART_DEADLINE
    while time.monotonic() < deadline:
        pid = cluster.pid_of(name)
        if pid is not None and pid != old_pid:
            if name == "gateway":
                healthy = pings(cluster)
            else:
                healthy = grpc_health(cluster.paths.service_socket(name), timeout=0.2) == "SERVING"
            if healthy:
                return time.monotonic() - killed_at
        time.sleep(0.02)
    pytest.fail(f"{name} not back and serving within {RESTART_DEADLINE}s of kill -9\n"
                f"{cluster.log_tail()}")


@pytest.mark.parametrize("name", [*SERVICE_NAMES, "gateway"])
def test_killed_component_comes_back(make_cluster: MakeCluster, name: str) -> None:
    created = make_cluster()
    key = f"{TEST_PREFIX}{uuid.uuid4().hex}"
    etcd_put(created, key, b"before the kill")
    old_pid = component_pids(created)[name]

    os.kill(old_pid, signal.SIGKILL)
    _wait_back(created, name, old_pid, time.monotonic())

    assert etcd_get(created, key) == b"before the kill"
    report = created.status()
    assert report["components"][name]["restarts"] == 1
    others = {n: c["pid"] for n, c in report["components"].items() if n != name}
    assert all(others.values()), others


def test_every_component_comes_back_in_turn(make_cluster: MakeCluster) -> None:
    created = make_cluster()
    key = f"{TEST_PREFIX}{uuid.uuid4().hex}"
    etcd_put(created, key, b"kept")
    for name in [*SERVICE_NAMES, "gateway"]:
        old_pid = component_pids(created)[name]
        os.kill(old_pid, signal.SIGKILL)
        _wait_back(created, name, old_pid, time.monotonic())
    assert etcd_get(created, key) == b"kept"
    assert created.status()["launcher"]["state"] == "ready"


def test_killed_etcd_comes_back_with_its_data(make_cluster: MakeCluster) -> None:
    created = make_cluster()
    key = f"{TEST_PREFIX}{uuid.uuid4().hex}"
    etcd_put(created, key, b"durable")
    old_pid = component_pids(created)["etcd"]
    os.kill(old_pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        pid = created.pid_of("etcd")
        if pid not in (None, old_pid) and created.status()["components"]["etcd"]["health"] == (
            "healthy"
        ):
            break
        time.sleep(0.05)
    assert etcd_get(created, key) == b"durable"


# ---- stopping ---------------------------------------------------------------------


def test_down_stops_everything_and_up_keeps_etcd_data(make_cluster: MakeCluster) -> None:
    created = make_cluster()
    key = f"{TEST_PREFIX}{uuid.uuid4().hex}"
    etcd_put(created, key, b"survives down")
    pids = [*component_pids(created).values(), created.launcher_pid() or 0]

    result = created.down()
    assert result.returncode == 0, result.stderr
    assert wait_until_gone(pids, timeout=1.0) == []
    assert not created.paths.launcher_pid.exists()
    assert created.run("status").returncode == 1

    created.start()
    assert pings(created)
    assert etcd_get(created, key) == b"survives down"


def test_down_when_not_running(make_cluster: MakeCluster) -> None:
    created = make_cluster(start=False)
    result = created.run("down")
    assert result.returncode == 0
    assert "not running" in result.stderr
    status = created.run("status", "--format", "json")
    assert status.returncode == 1


def test_foreground_up_stops_in_order_on_sigterm(make_cluster: MakeCluster) -> None:
    created = make_cluster(start=False)
    # The cluster's own bridge and chain names (tests/support/netclean.py), nothing else.
    created.config_file.write_text(json.dumps(created.daemon_json))
    proc = subprocess.Popen(
        [*LAUNCHER, *created.launcher_args("up")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == f"export DOCKER_HOST={created.docker_host}"
        pids = list(component_pids(created).values())
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=60)
        assert proc.returncode == 0, stderr
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert wait_until_gone(pids, timeout=1.0) == []
    stopped = [
        line.split('"msg": "stopping ', 1)[1].split('"', 1)[0]
        for line in stderr.splitlines()
        if '"msg": "stopping ' in line
    ]
    assert stopped == ["gateway", "execd", "cgroupd", "netd", "imaged", "etcd"]


def test_children_die_with_a_killed_launcher(make_cluster: MakeCluster) -> None:
    created = make_cluster()
    pids = component_pids(created)
    launcher = created.launcher_pid()
    assert launcher is not None
    os.kill(launcher, signal.SIGKILL)
    left = wait_until_gone(list(pids.values()), timeout=15)
    assert left == [], {name: pid for name, pid in pids.items() if pid in left}
    # The lock died with the launcher: a new `up` on the same roots works.
    created.start()
    assert pings(created)


# ---- two clusters ---------------------------------------------------------------


def test_two_clusters_side_by_side(make_cluster: MakeCluster) -> None:
    first = make_cluster()
    second = make_cluster()
    assert first.socket != second.socket
    assert pings(first) and pings(second)
    assert set(component_pids(first).values()).isdisjoint(component_pids(second).values())
    assert etcd_endpoints(first) != etcd_endpoints(second)

    # Killing one's gateway leaves the other alone.
    os.kill(component_pids(first)["gateway"], signal.SIGKILL)
    assert pings(second)
    _wait_back(first, "gateway", -1, time.monotonic())

    assert first.down().returncode == 0
    assert not pings(first)
    assert pings(second)
    assert second.status()["running"] is True


# ---- refusals ------------------------------------------------------------------


def test_unknown_daemon_json_key(make_cluster: MakeCluster) -> None:
    created = make_cluster(start=False, daemon_json={"foo": 1})
    result = created.run("up", "--detach")
    assert_one_line_error(
        result, "the following directives don't match any configuration option: foo"
    )
    assert not created.paths.launcher_pid.exists()


def test_flag_and_file_conflict(make_cluster: MakeCluster) -> None:
    created = make_cluster(start=False, daemon_json={"bip": "10.99.0.1/24"})
    result = created.run("up", "--detach", "--bip", "10.98.0.1/24")
    assert_one_line_error(
        result, "the following directives are specified both as a flag and in the configuration "
        "file: bip"
    )


def test_explicit_config_file_must_exist(make_cluster: MakeCluster) -> None:
    created = make_cluster(start=False)
    missing = created.base / "missing.json"
    result = subprocess.run(
        [*LAUNCHER, "up", "--detach", "--config-file", str(missing),
         "--data-root", str(created.data_root), "--exec-root", str(created.exec_root),
         "-H", created.docker_host],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert_one_line_error(result, str(missing))


def test_socket_taken_by_a_live_cluster(make_cluster: MakeCluster) -> None:
    first = make_cluster()
    intruder = make_cluster(start=False, host=first.docker_host)
    result = intruder.run("up", "--detach")
    assert_one_line_error(result, f"cannot listen on {first.docker_host}")
    assert "already running" in result.stderr
    assert pings(first)


def test_stale_socket_is_reused(make_cluster: MakeCluster) -> None:
    created = make_cluster(start=False)
    created.exec_root.mkdir(parents=True)
    import socket as socketlib

    with socketlib.socket(socketlib.AF_UNIX) as stale:
        stale.bind(str(created.socket))  # bound, never listening, then closed: stale
    created.start()
    assert pings(created)


def test_second_launcher_on_the_same_exec_root(make_cluster: MakeCluster) -> None:
    created = make_cluster()
    result = created.run("up", "--detach")
    assert_one_line_error(result, "another dockyard is running with exec-root")
    assert pings(created)


def test_etcd_that_cannot_start(make_cluster: MakeCluster) -> None:
    created = make_cluster(start=False)
    created.data_root.mkdir(parents=True)
    (created.data_root / "etcd").write_text("not a directory")
    result = created.run("up", "--detach")
    assert_one_line_error(result, "etcd cannot start")
    assert not created.paths.launcher_pid.exists()


def test_not_root_is_refused() -> None:
    result = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
         sys.executable, "-m", "launcher", "up", "--data-root", "/tmp/dockyard-never",
         "--exec-root", "/tmp/dockyard-never-exec"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert_one_line_error(result, "must be run as root")


def test_crash_loop_at_start_fails_up_with_the_last_lines(make_cluster: MakeCluster) -> None:
    import socket as socketlib

    with socketlib.socket() as squatter:
        # Bound but not listening: `up` sees no live daemon there, the gateway cannot bind.
        squatter.bind(("127.0.0.1", 0))
        port = squatter.getsockname()[1]
        created = make_cluster(start=False, host=f"tcp://127.0.0.1:{port}")
        started = time.monotonic()
        result = created.run("up", "--detach")
        elapsed = time.monotonic() - started
    assert_one_line_error(result, "gateway keeps exiting")
    assert "cannot start" in result.stderr  # the gateway's own last words
    assert elapsed < 20, f"crash loop detected only after {elapsed:.1f}s"
    assert "crash-looping" in created.log_file.read_text()


def test_external_etcd_is_not_embedded(make_cluster: MakeCluster) -> None:
    from tests.support.etcd import running_etcd

    with running_etcd() as endpoint:
        created = make_cluster(extra_args=("--etcd-endpoints", endpoint))
        report = created.status()
        etcd = report["components"]["etcd"]
        assert etcd["pid"] is None and etcd["state"] == "external"
        assert etcd["health"] == "healthy"
        assert report["etcd_endpoints"] == [endpoint]
        assert not (created.data_root / "etcd").exists()
        assert pings(created)
        created.down()
