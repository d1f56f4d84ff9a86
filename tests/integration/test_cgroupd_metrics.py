"""Per-container metrics through a whole cluster: cgroupd samples, the gateway's
/metrics (metrics-addr) serves them, and a removed container's series goes away."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import urllib.request
from pathlib import Path

import pytest

from services.cgroupd.client import CgroupsClient
from services.cgroupd.driver import rmdir_tree
from services.cgroupd.resources import Resources
from services.common.errors import DockyardError
from services.common.grpc_client import open_channel
from tests.conftest import MakeCluster
from tests.support.etcd import free_port

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root and a cluster")


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        return str(reply.read().decode())


async def wait_for(port: int, present: bool, needle: str) -> str:
    text = ""
    for _ in range(50):
        text = await asyncio.to_thread(scrape, port)
        if (needle in text) == present:
            return text
        await asyncio.sleep(0.2)
    raise AssertionError(f"{needle!r} {'never appeared' if present else 'stayed'}:\n{text}")


async def test_container_metrics_are_scraped_from_the_gateway(make_cluster: MakeCluster) -> None:
    parent = f"dockyard-test-{secrets.token_hex(4)}"
    port = free_port()
    cluster = make_cluster(daemon_json={"cgroup-parent": parent,
                                        "metrics-addr": f"127.0.0.1:{port}"})
    cid = secrets.token_hex(32)
    try:
        async with open_channel(cluster.paths.service_target("cgroupd")) as channel:
            client = CgroupsClient(channel)
            await client.create_cgroup(cid, Resources(memory=64 << 20, pids_limit=7), name="web")
            labels = f'{{container_id="{cid}",name="web"}}'
            text = await wait_for(port, True, f"dockyard_container_memory_limit_bytes{labels}")
            assert f"dockyard_container_memory_limit_bytes{labels} 6.7108864e+07" in text
            assert f"dockyard_container_pids{labels} 0.0" in text
            assert f"dockyard_container_oom_kills{labels} 0.0" in text
            assert f"dockyard_container_cpu_seconds{labels}" in text
            await client.remove_cgroup(cid)
            await wait_for(port, False, cid)
    finally:
        cluster.stop()
        for mount in Path("/sys/fs/cgroup").iterdir():
            with contextlib.suppress(DockyardError):
                rmdir_tree(mount / parent)
