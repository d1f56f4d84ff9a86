"""``exec_die`` of ``docker exec -d`` survives a gateway restart.

dockerd reports a detached exec's end whenever it comes. Dockyard's gateway
follows it; killed and restarted by the launcher meanwhile, the gateway
that comes back follows it again: an exec still running is reported when it
ends, one that ended while no gateway was there is reported once one is back.
Each exactly once, and nothing is left noted in etcd afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gateway.events.exec_follows import FOLLOWS_PREFIX
from services.common.etcd_store import Store
from tests.support.busybox import cached_busybox_rootfs_tar
from tests.support.cli_containers import ok, poll
from tests.support.cluster import Cluster

pytestmark = pytest.mark.root


def exec_dies(cluster: Cluster, since: float) -> dict[str, list[str]]:
    """exitCodes of the exec_die events since ``since``, by execID."""
    until = time.time() + 0.3
    out = ok(cluster.docker("events", "--since", f"{since:.9f}", "--until", f"{until:.9f}",
                            "--filter", "event=exec_die", "--format", "{{json .}}"))
    found: dict[str, list[str]] = {}
    for line in out.splitlines():
        attributes: dict[str, Any] = json.loads(line)["Actor"]["Attributes"]
        found.setdefault(attributes["execID"], []).append(attributes["exitCode"])
    return found


def detached_exec(cluster: Cluster, container: str, script: str) -> str:
    """``docker exec -d`` through the API (the CLI does not print the exec's ID)."""
    api = cluster.client().api
    exec_id: str = api.exec_create(container, ["sh", "-c", script])["Id"]
    api.exec_start(exec_id, detach=True)
    return exec_id


def store_of(cluster: Cluster) -> Store:
    return Store(list(cluster.state()["etcd_endpoints"]))


async def notes_left(cluster: Cluster) -> list[str]:
    store = store_of(cluster)
    await store.connect()
    try:
        return [str(e.key) for e in await store.get_prefix(FOLLOWS_PREFIX)]
    finally:
        await store.close()


async def note_unknown_exec(cluster: Cluster) -> str:
    """A note of an exec execd never had (a gateway killed between its note and its start)."""
    exec_id = secrets.token_hex(32)
    store = store_of(cluster)
    await store.connect()
    try:
        await store.put(FOLLOWS_PREFIX + exec_id, b'{"v": 1, "container_id": ""}')
    finally:
        await store.close()
    return exec_id


def restart_gateway(cluster: Cluster, while_frozen: Callable[[], None]) -> None:
    """Freeze the gateway, run ``while_frozen``, SIGKILL it; back once one answers."""
    gateway = cluster.pid_of("gateway")
    assert gateway is not None
    os.kill(gateway, signal.SIGSTOP)
    try:
        while_frozen()
    finally:
        os.kill(gateway, signal.SIGKILL)

    def back() -> bool | None:
        pid = cluster.pid_of("gateway")
        return (pid not in (None, gateway) and cluster.docker("version").returncode == 0) or None

    poll(back, timeout=60, interval=0.2, what="the gateway back")


def test_exec_die_of_detached_execs_comes_after_a_gateway_restart(
    make_cluster: Any, tmp_path: Path
) -> None:
    cluster: Cluster = make_cluster()
    ok(cluster.docker("import", str(cached_busybox_rootfs_tar(tmp_path)), "busybox:latest"))
    # The execs see the test's files through a bind of tmp_path.
    ok(cluster.docker("run", "-d", "--name", "host", "-v", f"{tmp_path}:/shared",
                      "busybox", "sleep", "300"))
    since = time.time()
    running = detached_exec(cluster, "host", "sleep 4; exit 5")
    ended = detached_exec(cluster, "host", "while [ ! -e /shared/go ]; do sleep 0.05; done; "
                                           "touch /shared/done; exit 9")
    asyncio.run(note_unknown_exec(cluster))

    def end_one_exec() -> None:
        (tmp_path / "go").touch()
        poll(lambda: (tmp_path / "done").exists() or None, timeout=20, interval=0.05,
             what="the exec's end while the gateway is frozen")
        time.sleep(0.5)  # execd records the exit code once runc has reaped the process

    restart_gateway(cluster, end_one_exec)

    def both() -> dict[str, list[str]] | None:
        found = exec_dies(cluster, since)
        return found if running in found and ended in found else None

    poll(both, timeout=30, interval=0.3, what="both exec_die events")
    time.sleep(1.0)  # a duplicate would come now
    # The exec execd never knew has nothing to report, and is not followed for ever.
    assert exec_dies(cluster, since) == {running: ["5"], ended: ["9"]}
    assert asyncio.run(notes_left(cluster)) == []
