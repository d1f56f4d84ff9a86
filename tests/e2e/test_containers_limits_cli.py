"""Resource limits through the stock docker CLI and docker-py: OOM, --cpus, --pids-limit,
docker stats, docker update, docker pause/unpause — checked in the container's real cgroup."""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from tests.support.busybox import cached_busybox_rootfs_tar
from tests.support.cluster import Cluster

pytestmark = pytest.mark.root

MiB = 1024 * 1024
CGROUP_ROOT = Path("/sys/fs/cgroup")
V2 = (CGROUP_ROOT / "cgroup.controllers").exists()


@pytest.fixture(scope="module")
def busybox(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> str:
    """``busybox:latest`` in the cluster (imported from Debian's busybox-static)."""
    if cluster.docker("image", "inspect", "busybox:latest").returncode != 0:
        tar = cached_busybox_rootfs_tar(tmp_path_factory.mktemp("busybox"))
        imported = cluster.docker("import", "--change", 'CMD ["sh"]', str(tar), "busybox:latest")
        assert imported.returncode == 0, imported.stderr
    return "busybox"


@pytest.fixture
def names(cluster: Cluster) -> Iterator[list[str]]:
    """Names of containers a test made; removed (forcibly) afterwards."""
    made: list[str] = []
    yield made
    for name in made:
        cluster.docker("rm", "-f", name)


@contextlib.contextmanager
def dockerpy(cluster: Cluster) -> Iterator[docker.DockerClient]:
    client = cluster.client()
    try:
        yield client
    finally:
        client.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def inspect(cluster: Cluster, name: str) -> dict[str, Any]:
    data: list[dict[str, Any]] = json.loads(ok(cluster.docker("inspect", name)))
    return data[0]


def run_detached(cluster: Cluster, names: list[str], *args: str) -> str:
    name = unique("lim")
    names.append(name)
    ok(cluster.docker("run", "-d", "--name", name, *args))
    return name


def cgroup_file(cluster: Cluster, name: str, controller: str, filename: str) -> str:
    """A file of the container's own cgroup, found from its process as the kernel reports it."""
    pid = inspect(cluster, name)["State"]["Pid"]
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if V2 and controllers == "":
            return (CGROUP_ROOT / path.lstrip("/") / filename).read_text().strip()
        if not V2 and controller in controllers.split(","):
            return (CGROUP_ROOT / controllers / path.lstrip("/") / filename).read_text().strip()
    raise AssertionError(f"no {controller} cgroup for {name}")


def memory_limits(cluster: Cluster, name: str) -> tuple[int, int]:
    """(memory limit, memory+swap limit) in bytes, as the kernel enforces them."""
    if V2:
        memory = int(cgroup_file(cluster, name, "memory", "memory.max"))
        return memory, memory + int(cgroup_file(cluster, name, "memory", "memory.swap.max"))
    return (int(cgroup_file(cluster, name, "memory", "memory.limit_in_bytes")),
            int(cgroup_file(cluster, name, "memory", "memory.memsw.limit_in_bytes")))


# ---- OOM ---------------------------------------------------------------------------------


@pytest.mark.parametrize("hog", [
    "x=a; while true; do x=$x$x; done",
    "tail /dev/zero",
])
def test_memory_hog_is_oom_killed(cluster: Cluster, busybox: str, names: list[str],
                                  hog: str) -> None:
    name = unique("oom")
    names.append(name)
    result = cluster.docker("run", "--name", name, "-m", "16m", busybox, "sh", "-c", hog)
    assert result.returncode == 137, result.stderr
    state = inspect(cluster, name)["State"]
    assert state["OOMKilled"] is True
    assert state["ExitCode"] == 137 and state["Status"] == "exited"


def test_plain_kill_is_not_an_oom(cluster: Cluster, busybox: str, names: list[str]) -> None:
    name = run_detached(cluster, names, "-m", "16m", busybox, "sleep", "100")
    ok(cluster.docker("kill", name))
    assert ok(cluster.docker("wait", name)).strip() == "137"
    assert inspect(cluster, name)["State"]["OOMKilled"] is False


# ---- CPU and pids --------------------------------------------------------------------------


def test_cpus_is_a_cfs_quota_and_throttles(cluster: Cluster, busybox: str,
                                           names: list[str]) -> None:
    name = run_detached(cluster, names, "--cpus", "0.5", busybox, "sh", "-c",
                        "while true; do :; done")
    if V2:
        assert cgroup_file(cluster, name, "cpu", "cpu.max") == "50000 100000"
    else:
        assert cgroup_file(cluster, name, "cpu", "cpu.cfs_period_us") == "100000"
        assert cgroup_file(cluster, name, "cpu", "cpu.cfs_quota_us") == "50000"
    assert inspect(cluster, name)["HostConfig"]["NanoCpus"] == 500_000_000
    time.sleep(1)
    with dockerpy(cluster) as client:
        stats = client.containers.get(name).stats(stream=False)
    cpu, pre = stats["cpu_stats"], stats["precpu_stats"]
    used_ns = cpu["cpu_usage"]["total_usage"] - pre["cpu_usage"]["total_usage"]
    assert cpu["throttling_data"]["throttled_periods"] > 0
    # A busy loop held to half a CPU over the one-second window (and not idle either).
    assert 0.2e9 < used_ns < 0.65e9, used_ns


def test_pids_limit_stops_forks(cluster: Cluster, busybox: str, names: list[str]) -> None:
    forks = "for i in $(seq 20); do sleep 5 & done; echo all forked"
    limited = cluster.docker("run", "--rm", "--pids-limit", "10", busybox, "sh", "-c", forks)
    assert "can't fork" in limited.stderr and "all forked" not in limited.stdout
    assert limited.returncode != 0
    free = cluster.docker("run", "--rm", busybox, "sh", "-c", forks)
    assert free.returncode == 0 and "all forked" in free.stdout, free.stderr
    name = run_detached(cluster, names, "--pids-limit", "10", busybox, "sleep", "100")
    assert cgroup_file(cluster, name, "pids", "pids.max") == "10"
    assert inspect(cluster, name)["HostConfig"]["PidsLimit"] == 10


def test_limits_survive_restart_policy_restarts(cluster: Cluster, busybox: str,
                                                names: list[str]) -> None:
    # Each run reports the memory limit of its own cgroup, as the kernel enforces it.
    report = ("cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null "
              "|| cat /sys/fs/cgroup/memory.max; sleep 0.5; exit 1")
    name = run_detached(cluster, names, "-m", "32m", "--restart", "on-failure:2", busybox,
                        "sh", "-c", report)
    deadline = time.monotonic() + 30
    while inspect(cluster, name)["State"]["Status"] != "exited":
        assert time.monotonic() < deadline, "the container did not finish its restarts"
        time.sleep(0.3)
    assert inspect(cluster, name)["RestartCount"] == 2
    assert ok(cluster.docker("logs", name)).split() == [str(32 * MiB)] * 3


# ---- docker stats ---------------------------------------------------------------------------


def test_stats_no_stream_shows_usage_and_limit(cluster: Cluster, busybox: str,
                                               names: list[str]) -> None:
    limited = run_detached(cluster, names, "-m", "32m", busybox, "sleep", "100")
    plain = run_detached(cluster, names, busybox, "sleep", "100")
    assert inspect(cluster, limited)["HostConfig"]["Memory"] == 32 * MiB
    table = ok(cluster.docker("stats", "--no-stream", limited, plain)).splitlines()
    assert table[0].split() == ["CONTAINER", "ID", "NAME", "CPU", "%", "MEM", "USAGE", "/",
                                "LIMIT", "MEM", "%", "NET", "I/O", "BLOCK", "I/O", "PIDS"]
    rows = {line.split()[1]: line for line in table[1:]}
    assert set(rows) == {limited, plain}
    assert "/ 32MiB" in rows[limited] and rows[limited].split()[-1] == "1"
    assert "/ 32MiB" not in rows[plain] and "GiB" in rows[plain]
    # Without names: every running container, ours among them.
    everything = ok(cluster.docker("stats", "--no-stream", "--format", "{{.Name}}"))
    assert {limited, plain} <= set(everything.split())
    formatted = ok(cluster.docker("stats", "--no-stream", "--format",
                                  "{{.Name}} {{.MemUsage}}", limited)).strip()
    name, usage, slash, limit = formatted.split()
    assert (name, slash, limit) == (limited, "/", "32MiB")
    assert usage.endswith(("KiB", "MiB")) and not usage.startswith("0B")


def test_stats_of_a_stopped_container_are_zeros(cluster: Cluster, busybox: str,
                                                names: list[str]) -> None:
    name = unique("stopped")
    names.append(name)
    ok(cluster.docker("create", "--name", name, busybox, "true"))
    with dockerpy(cluster) as client:
        stats = client.containers.get(name).stats(stream=False)
    assert stats["name"] == "/" + name and stats["read"] == "0001-01-01T00:00:00Z"
    assert stats["memory_stats"] == {} and stats["pids_stats"] == {}
    row = ok(cluster.docker("stats", "--no-stream", "--format",
                            "{{.Name}} {{.MemUsage}} {{.PIDs}}", name)).strip()
    assert row == f"{name} 0B / 0B 0"


def test_stats_stream_ticks_every_second(cluster: Cluster, busybox: str,
                                         names: list[str]) -> None:
    name = run_detached(cluster, names, busybox, "sleep", "100")
    with dockerpy(cluster) as client:
        stream = client.api.stats(name, decode=True, stream=True)
        first, second = next(stream), next(stream)
        stream.close()
        one_shot = client.api.stats(name, stream=False, one_shot=True)
    assert first["preread"] == "0001-01-01T00:00:00Z" and second["preread"] == first["read"]
    assert second["networks"]["eth0"]["rx_bytes"] >= 0
    assert one_shot["preread"] == "0001-01-01T00:00:00Z" and one_shot["pids_stats"]["current"]


# ---- docker update ---------------------------------------------------------------------------


def test_update_applies_memory_live(cluster: Cluster, busybox: str, names: list[str]) -> None:
    name = run_detached(cluster, names, "-m", "32m", busybox, "sleep", "100")
    assert memory_limits(cluster, name) == (32 * MiB, 64 * MiB)
    assert ok(cluster.docker("update", "--memory", "64m", "--memory-swap", "128m",
                             name)).strip() == name
    assert memory_limits(cluster, name) == (64 * MiB, 128 * MiB)
    host_config = inspect(cluster, name)["HostConfig"]
    assert (host_config["Memory"], host_config["MemorySwap"]) == (64 * MiB, 128 * MiB)
    limit = ok(cluster.docker("stats", "--no-stream", "--format", "{{.MemUsage}}", name))
    assert limit.strip().endswith("/ 64MiB")
    ok(cluster.docker("update", "--cpus", "1.5", "--pids-limit", "50", name))
    assert cgroup_file(cluster, name, "pids", "pids.max") == "50"
    if not V2:
        assert cgroup_file(cluster, name, "cpu", "cpu.cfs_quota_us") == "150000"


def test_update_refusals(cluster: Cluster, busybox: str, names: list[str]) -> None:
    name = run_detached(cluster, names, "-m", "64m", "--memory-swap", "64m", "--cpus", "0.5",
                        busybox, "sh", "-c",
                        "dd if=/dev/zero of=/dev/shm/fill bs=1M count=40; sleep 100")
    container_id = inspect(cluster, name)["Id"]
    prefix = f"Error response from daemon: Cannot update container {container_id}: "

    def refusal(*args: str) -> str:
        result = cluster.docker("update", *args, name)
        assert result.returncode == 1 and result.stdout == ""
        return result.stderr.strip()

    assert refusal("--memory", "128m") == prefix + (
        "Memory limit should be smaller than already set memoryswap limit, update the "
        "memoryswap at the same time")
    assert refusal("--memory", "1m") == ("Error response from daemon: Minimum memory limit "
                                         "allowed is 6MB")
    assert refusal("--cpu-quota", "20000") == prefix + (
        "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set")
    assert refusal("--restart", "sometimes") == ("Error response from daemon: invalid "
                                                 "restart policy 'sometimes'")
    # Below what the container uses (40 MiB of shared memory, no swap to go to).
    usage_file = "memory.current" if V2 else "memory.usage_in_bytes"
    deadline = time.monotonic() + 10
    while int(cgroup_file(cluster, name, "memory", usage_file)) < 40 * MiB:
        assert time.monotonic() < deadline, "the container did not fill its memory"
        time.sleep(0.2)
    assert refusal("--memory", "16m", "--memory-swap", "16m").startswith(
        prefix + "unable to set memory limit to 16777216 (current usage: ")
    # Nothing of a refused update stays behind.
    assert memory_limits(cluster, name) == (64 * MiB, 64 * MiB)
    host_config = inspect(cluster, name)["HostConfig"]
    assert (host_config["Memory"], host_config["MemorySwap"]) == (64 * MiB, 64 * MiB)


def test_update_restart_policy_judges_the_next_exit(cluster: Cluster, busybox: str,
                                                    names: list[str]) -> None:
    name = run_detached(cluster, names, busybox, "sh", "-c", "sleep 2; exit 3")
    ok(cluster.docker("update", "--restart", "on-failure:2", name))
    assert inspect(cluster, name)["HostConfig"]["RestartPolicy"] == {
        "Name": "on-failure", "MaximumRetryCount": 2}
    deadline = time.monotonic() + 20
    while inspect(cluster, name)["RestartCount"] < 1:
        assert time.monotonic() < deadline, "the new policy did not restart the container"
        time.sleep(0.3)


def test_update_of_a_stopped_container_applies_at_start(cluster: Cluster, busybox: str,
                                                        names: list[str]) -> None:
    name = unique("later")
    names.append(name)
    ok(cluster.docker("create", "--name", name, busybox, "sleep", "100"))
    ok(cluster.docker("update", "--memory", "48m", "--memory-swap", "96m", name))
    ok(cluster.docker("start", name))
    assert memory_limits(cluster, name) == (48 * MiB, 96 * MiB)


# ---- docker pause / unpause ------------------------------------------------------------------


def test_pause_freezes_and_unpause_thaws(cluster: Cluster, busybox: str,
                                         names: list[str]) -> None:
    name = run_detached(cluster, names, busybox, "sh", "-c", "while true; do sleep 0.1; done")
    pid = inspect(cluster, name)["State"]["Pid"]
    container_id = inspect(cluster, name)["Id"]
    assert ok(cluster.docker("pause", name)).strip() == name
    if V2:
        assert cgroup_file(cluster, name, "", "cgroup.freeze") == "1"
    else:
        assert cgroup_file(cluster, name, "freezer", "freezer.state") == "FROZEN"
    status = Path(f"/proc/{pid}/status").read_text()
    assert "State:\tD" in status or "State:\tT" in status
    state = inspect(cluster, name)["State"]
    assert state["Status"] == "paused" and state["Paused"] is True
    assert "(Paused)" in ok(cluster.docker("ps", "--filter", f"name={name}"))
    refused = cluster.docker("exec", name, "true")
    assert refused.returncode == 1
    assert refused.stderr.strip() == (f"Error response from daemon: Container {container_id} "
                                      "is paused, unpause the container before exec")
    again = cluster.docker("pause", name)
    assert again.returncode == 1
    assert f"Container {container_id} is already paused" in again.stderr
    assert ok(cluster.docker("unpause", name)).strip() == name
    assert "State:\tD" not in Path(f"/proc/{pid}/status").read_text()
    assert inspect(cluster, name)["State"]["Status"] == "running"
    assert "(Paused)" not in ok(cluster.docker("ps", "--filter", f"name={name}"))
    ok(cluster.docker("exec", name, "true"))


# ---- docker-py -------------------------------------------------------------------------------


def test_dockerpy_stats_update_pause(cluster: Cluster, busybox: str, names: list[str]) -> None:
    name = unique("py")
    names.append(name)
    with dockerpy(cluster) as client:
        container = client.containers.run(busybox, ["sleep", "100"], name=name, detach=True,
                                          mem_limit="32m")
        stats = container.stats(stream=False)
        assert stats["memory_stats"]["limit"] == 32 * MiB
        assert stats["cpu_stats"]["online_cpus"] >= 1 and stats["pids_stats"]["current"] == 1
        assert stats["precpu_stats"]["cpu_usage"]["total_usage"] > 0
        result = container.update(mem_limit="64m", memswap_limit="128m")
        assert result == {"Warnings": []}
        container.reload()
        assert container.attrs["HostConfig"]["Memory"] == 64 * MiB
        assert container.stats(stream=False)["memory_stats"]["limit"] == 64 * MiB
        container.pause()
        container.reload()
        assert container.status == "paused"
        with pytest.raises(docker.errors.APIError) as info:
            container.exec_run("true")
        assert info.value.status_code == 409
        container.unpause()
        container.reload()
        assert container.status == "running"
