"""Containers survive ``kill -9`` of execd, the gateway and the launcher (issue 6, part 9).

One private cluster. While a workload of 20 containers keeps starting and
stopping through the API, each component in turn is killed with SIGKILL (the
launcher is then started again with ``dockyard up`` on the same roots, as an
operator would). Requests may fail while a component is down; they must fail
with a clear error. Afterwards every record must match the kernel: running
means a live process, exits that happened while nobody watched carry their
real exit codes, ``docker logs -f`` and ``docker wait`` work on a container
started before the kills, and nothing is left for containers that are gone.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import docker.errors
import pytest
import requests

from services.common.etcd_store import Store
from tests.conftest import MakeCluster
from tests.support.busybox import cached_busybox_rootfs_tar
from tests.support.cluster import Cluster

pytestmark = pytest.mark.root

SLOTS = 20
WORKERS = 4
BACK_DEADLINE = 30.0
SETTLE_DEADLINE = 30.0
# Stops on SIGTERM within a tick; `exit 7` marks a TERM we sent ourselves.
TERM_EXITS_7 = "trap 'exit 7' TERM; while :; do sleep 0.1; done"
IMAGE = "busybox"


# ---- the workload -----------------------------------------------------------------


@dataclass
class Workload:
    """Threads that keep ``SLOTS`` containers coming and going through docker-py."""

    cluster: Cluster
    stop: threading.Event = field(default_factory=threading.Event)
    made: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)
    errors: list[str] = field(default_factory=list)
    operations: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        per_worker = SLOTS // WORKERS
        for index in range(WORKERS):
            thread = threading.Thread(target=self._work, args=(index, per_worker), daemon=True)
            thread.start()
            self.threads.append(thread)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)
        assert not any(t.is_alive() for t in self.threads), "a workload thread hangs"

    def _work(self, index: int, slots: int) -> None:
        rng = random.Random(index)
        api = docker.APIClient(base_url=self.cluster.docker_host, version="1.47", timeout=60)
        held: list[str | None] = [None] * slots
        try:
            while not self.stop.is_set():
                slot = rng.randrange(slots)
                current = held[slot]
                if current is None:
                    held[slot] = self._attempt(self._run, api, rng)
                elif self._attempt(self._stop_and_remove, api, current) is not None:
                    held[slot] = None
                with self.lock:
                    self.operations += 1
        finally:
            api.close()

    def _run(self, api: docker.APIClient, rng: random.Random) -> str:
        command = ["sh", "-c", TERM_EXITS_7 if rng.random() < 0.7 else "exit 3"]
        created = api.create_container(IMAGE, command)
        container_id = str(created["Id"])
        with self.lock:
            self.made.add(container_id)
        api.start(container_id)
        return container_id

    def _stop_and_remove(self, api: docker.APIClient, container_id: str) -> str:
        api.stop(container_id, timeout=5)
        api.remove_container(container_id)
        with self.lock:
            self.removed.add(container_id)
        return container_id

    def _attempt(self, action: Callable[..., str], *args: Any) -> str | None:
        try:
            return action(*args)
        except docker.errors.APIError as e:
            status = e.response.status_code if e.response is not None else 0
            self._record(f"{status} {e.explanation}")
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as e:
            self._record(f"connection: {type(e).__name__}")
        time.sleep(0.05)
        return None

    def _record(self, error: str) -> None:
        with self.lock:
            self.errors.append(error)


def unclear_errors(errors: list[str]) -> list[str]:
    """Errors that are not a clean refusal: a 500, or an API error without a message."""
    unclear = []
    for error in errors:
        if error.startswith("connection:"):
            continue  # the gateway itself was down
        status, _, message = error.partition(" ")
        if status == "500" or not message.strip() or message.strip() == "None":
            unclear.append(error)
    return unclear


# ---- what the kernel says -------------------------------------------------------------


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def cmdline(pid: str) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def monitors(cluster: Cluster) -> dict[str, int]:
    """Container ID → how many conmon processes of this cluster watch it."""
    found: dict[str, int] = {}
    marker = str(cluster.base) + "/"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        argv = cmdline(entry.name)
        if not argv or not argv[0].endswith("conmon") or not any(marker in a for a in argv):
            continue
        container_id = argv[argv.index("-c") + 1]
        found[container_id] = found.get(container_id, 0) + 1
    return found


def runc_states(cluster: Cluster) -> dict[str, str]:
    root = cluster.exec_root / "runc"
    result = subprocess.run(["runc", "--root", str(root), "list", "--format", "json"],
                            capture_output=True, text=True, check=True)
    return {c["id"]: c["status"] for c in json.loads(result.stdout or "null") or []}


def overlay_mounts(cluster: Cluster) -> list[str]:
    """Container IDs whose rootfs is mounted (one entry per mount)."""
    prefix = str(cluster.data_root / "overlay") + "/"
    ids = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4]
        if point.startswith(prefix) and point.endswith("/merged"):
            ids.append(point[len(prefix):].split("/")[0])
    return ids


def netns_files(cluster: Cluster) -> set[str]:
    directory = cluster.exec_root / "netns"
    return {p.name for p in directory.iterdir()} if directory.is_dir() else set()


def container_cgroups(cluster: Cluster) -> set[str]:
    parent = str(cluster.daemon_json["cgroup-parent"])
    found: set[str] = set()
    root = Path("/sys/fs/cgroup")
    for hierarchy in [root, *(p for p in root.iterdir() if p.is_dir())]:
        top = hierarchy / parent
        if top.is_dir():
            found |= {d.name for d in top.iterdir() if d.is_dir() and len(d.name) == 64}
    return found


async def stored_ids(cluster: Cluster) -> dict[str, set[str]]:
    """Container IDs under each per-container etcd prefix the services keep."""
    store = Store(list(cluster.state()["etcd_endpoints"]))
    await store.connect()
    try:
        return {
            prefix: {e.key.rpartition("/")[2] for e in await store.get_prefix(prefix)}
            for prefix in ("sandboxes/", "cgroups/", "runtime/")
        }
    finally:
        await store.close()


# ---- the checks ----------------------------------------------------------------------


def wait_serving(cluster: Cluster, keeper: str) -> docker.DockerClient:
    """A client once the gateway answers and execd does too (``top`` is execd's)."""
    deadline = time.monotonic() + BACK_DEADLINE
    while time.monotonic() < deadline:
        client = cluster.client()
        try:
            client.api.top(keeper)
            return client
        except Exception:
            client.close()
            time.sleep(0.2)
    pytest.fail(f"cluster not serving {BACK_DEADLINE}s after the kill\n{cluster.log_tail()}")


def settled(client: docker.DockerClient) -> list[dict[str, Any]]:
    """Every container's inspect output, once none is mid-restart or removal."""
    deadline = time.monotonic() + SETTLE_DEADLINE
    while True:
        details = [client.api.inspect_container(c.id) for c in client.containers.list(all=True)]
        busy = [d["Id"][:12] for d in details
                if d["State"]["Status"] in ("restarting", "removing")]
        if not busy or time.monotonic() > deadline:
            assert not busy, f"still busy after {SETTLE_DEADLINE}s: {busy}"
            return details
        time.sleep(0.2)


def assert_records_match_reality(cluster: Cluster, client: docker.DockerClient) -> None:
    details = settled(client)
    # Everything the kernel holds is compared once the gateway has released
    # what stopped containers held (it does so right after their exit).
    deadline = time.monotonic() + SETTLE_DEADLINE
    while True:
        problems = _mismatches(cluster, details)
        if not problems or time.monotonic() > deadline:
            break
        time.sleep(0.3)
        details = settled(client)
    assert not problems, "\n".join([*problems, *_warnings(cluster)])


def _warnings(cluster: Cluster) -> list[str]:
    """The cluster's warning and error log lines, to tell why something was left."""
    try:
        lines = cluster.log_file.read_text(errors="replace").splitlines()
    except OSError:
        return []
    return [line for line in lines if '"level": "warning"' in line or '"level": "error"' in line]


def _mismatches(cluster: Cluster, details: list[dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    existing = {d["Id"] for d in details}
    running = {d["Id"] for d in details if d["State"]["Running"]}
    names = [d["Name"] for d in details]
    if len(names) != len(set(names)):
        problems.append(f"duplicate names: {sorted(names)}")
    for d in details:
        state, short = d["State"], d["Id"][:12]
        if state["Running"]:
            if state["Pid"] <= 0 or not pid_alive(state["Pid"]):
                problems.append(f"{short} is recorded running but pid {state['Pid']} is gone")
        elif state["Pid"] != 0:
            problems.append(f"{short} is {state['Status']} with pid {state['Pid']}")
        if not (d["GraphDriver"]["Data"] or {}).get("MergedDir"):
            problems.append(f"{short} has no root filesystem (half-made)")
    watched = monitors(cluster)
    for container_id, count in watched.items():
        if container_id not in running:
            problems.append(f"orphan conmon for {container_id[:12]}")
        elif count != 1:
            problems.append(f"{count} conmon processes for {container_id[:12]}")
    problems += [f"running {c[:12]} has no conmon" for c in running - set(watched)]
    states = runc_states(cluster)
    for container_id, status in states.items():
        if container_id not in running:
            problems.append(f"runc state left for {container_id[:12]} ({status})")
        elif status not in ("running", "paused"):
            problems.append(f"runc says {status} for running {container_id[:12]}")
    problems += [f"running {c[:12]} unknown to runc" for c in running - set(states)]
    mounts = overlay_mounts(cluster)
    problems += [f"rootfs of removed {c[:12]} still mounted" for c in set(mounts) - existing]
    if len(mounts) != len(set(mounts)):
        problems.append("a rootfs is mounted twice")
    problems += [f"netns file left for {c[:12]}" for c in netns_files(cluster) - running]
    records = asyncio.run(stored_ids(cluster))
    problems += [f"sandbox record left for {c[:12]}" for c in records["sandboxes/"] - running]
    problems += [f"cgroup record left for {c[:12]}" for c in records["cgroups/"] - running]
    problems += [f"runtime record left for {c[:12]}" for c in records["runtime/"] - existing]
    problems += [f"cgroup left for {c[:12]}" for c in container_cgroups(cluster) - running]
    return problems


# ---- the scenario -----------------------------------------------------------------------


@pytest.fixture
def cluster_with_busybox(make_cluster: MakeCluster, tmp_path: Path) -> Iterator[Cluster]:
    cluster = make_cluster()
    tar = cached_busybox_rootfs_tar(tmp_path)
    imported = cluster.docker("import", "--change", 'CMD ["sh"]', str(tar), f"{IMAGE}:latest")
    assert imported.returncode == 0, f"{imported.stderr}\n{cluster.log_tail(80)}"
    yield cluster


def run_detached(client: docker.DockerClient, command: str) -> str:
    container = client.containers.run(IMAGE, ["sh", "-c", command], detach=True)
    return str(container.id)


def container_pid(client: docker.DockerClient, container_id: str) -> int:
    pid = int(client.api.inspect_container(container_id)["State"]["Pid"])
    assert pid > 0
    return pid


def kill_during_workload(cluster: Cluster, keeper: str, component: str, exiter: int) -> Workload:
    """Run the workload; kill ``component`` in the middle and make ``exiter`` (a pid) exit
    while it is down; go on until some time after it is back."""
    workload = Workload(cluster)
    workload.start()
    time.sleep(1.5)
    if component == "launcher":
        launcher = cluster.launcher_pid()
        assert launcher is not None
        children = _component_pids(cluster)
        os.kill(launcher, signal.SIGKILL)
        os.kill(exiter, signal.SIGTERM)
        # The whole cluster goes (its parts die with the launcher); then `up` again.
        _wait_gone(cluster, children, 20.0)
        cluster.start()
    else:
        victim = cluster.pid_of(component)
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        os.kill(exiter, signal.SIGTERM)
    wait_serving(cluster, keeper).close()
    time.sleep(2.0)
    workload.finish()
    return workload


def check_phase(cluster: Cluster, keeper: str, workload: Workload, exiter: str, what: str) -> None:
    client = wait_serving(cluster, keeper)
    try:
        assert workload.operations > 20, f"the workload barely ran while {what}"
        assert not unclear_errors(workload.errors), unclear_errors(workload.errors)
        state = client.api.inspect_container(exiter)["State"]
        assert (state["Status"], state["ExitCode"], state["Running"]) == ("exited", 7, False), \
            f"exit while {what}: {state}"
        assert_records_match_reality(cluster, client)
        for container_id in workload.removed:
            with pytest.raises(docker.errors.NotFound):
                client.api.inspect_container(container_id)
    finally:
        client.close()


def test_containers_survive_kill_9_of_each_component(cluster_with_busybox: Cluster) -> None:
    cluster = cluster_with_busybox
    client = cluster.client()
    # Started before any kill; checked at the very end with `logs -f` and `wait`.
    keeper = run_detached(client, "echo started; trap 'echo bye; exit 3' TERM; "
                                  "while :; do sleep 0.1; done")
    keeper_pid = container_pid(client, keeper)

    for component in ("execd", "gateway", "launcher"):
        exiter = run_detached(client, TERM_EXITS_7)
        exiter_pid = container_pid(client, exiter)
        client.close()
        workload = kill_during_workload(cluster, keeper, component, exiter_pid)
        check_phase(cluster, keeper, workload, exiter, f"{component} was down")
        client = cluster.client()
        client.api.remove_container(exiter)

    # The container started before all three kills still runs with the same
    # process, and `docker logs -f` / `docker wait` follow it to its end.
    assert container_pid(client, keeper) == keeper_pid
    env = {**os.environ, "DOCKER_HOST": cluster.docker_host}
    follow = subprocess.Popen(["docker", "logs", "-f", keeper], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env)
    waiter = subprocess.Popen(["docker", "wait", keeper], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env)
    time.sleep(1.0)
    assert follow.poll() is None and waiter.poll() is None, "logs -f or wait ended early"
    stopped = cluster.docker("stop", keeper)
    assert stopped.returncode == 0, stopped.stderr
    out, err = waiter.communicate(timeout=30)
    assert (waiter.returncode, out.strip()) == (0, "3"), err
    out, err = follow.communicate(timeout=30)
    assert (follow.returncode, out) == (0, "started\nbye\n"), err
    assert_records_match_reality(cluster, client)
    client.close()


def test_records_match_reality_after_kill_9_of_etcd(cluster_with_busybox: Cluster) -> None:
    # The services keep their own keys in memory and write through to etcd
    # (services/common/owned_keys.py): writes cut off by etcd's death must not
    # leave that memory, or anything else, telling something etcd does not hold.
    cluster = cluster_with_busybox
    client = cluster.client()
    keeper = run_detached(client, "while :; do sleep 0.1; done")
    keeper_pid = container_pid(client, keeper)
    exiter = run_detached(client, TERM_EXITS_7)
    exiter_pid = container_pid(client, exiter)
    client.close()

    workload = kill_during_workload(cluster, keeper, "etcd", exiter_pid)
    check_phase(cluster, keeper, workload, exiter, "etcd was down")

    client = cluster.client()
    assert container_pid(client, keeper) == keeper_pid
    client.api.remove_container(exiter)
    client.api.remove_container(keeper, force=True)
    assert_records_match_reality(cluster, client)
    client.close()


def _component_pids(cluster: Cluster) -> dict[str, int]:
    components = cluster.state().get("components", {})
    return {name: int(c["pid"]) for name, c in components.items() if c.get("pid")}


def _wait_gone(cluster: Cluster, pids: dict[str, int], timeout: float) -> None:
    """Wait until none of the cluster's processes ``pids`` lives (a reused pid is not one)."""
    marker = str(cluster.base)

    def still_ours(pid: int) -> bool:
        return pid_alive(pid) and any(marker in arg for arg in cmdline(str(pid)))

    deadline = time.monotonic() + timeout
    while alive := {name: pid for name, pid in pids.items() if still_ours(pid)}:
        assert time.monotonic() < deadline, \
            f"components outlived the killed launcher: {alive}\n{cluster.log_tail(60)}"
        time.sleep(0.05)
