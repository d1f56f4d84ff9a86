"""Test helpers for container records: remove one without the engine's ``docker rm``.

Used by tests of create/list/inspect so they clean up whatever state the
runtime routes are in: the record and its name go in one etcd transaction,
the snapshot through imaged, as ``docker rm`` of a never-started container would.
"""

from __future__ import annotations

import asyncio
import contextlib

from gateway.containers.store import ContainerStore
from services.common.config import DaemonConfig
from services.common.endpoints import service_address
from services.common.errors import NotFound
from services.common.etcd_store import Store
from services.common.grpc_client import open_channel
from services.imaged.client import ImagesClient
from tests.support.cluster import Cluster


async def _remove(cluster: Cluster, container_ids: list[str]) -> None:
    config = DaemonConfig(data_root=str(cluster.data_root), exec_root=str(cluster.exec_root),
                          etcd_endpoints=tuple(cluster.state().get("etcd_endpoints", ())))
    store = Store(config.etcd_endpoints)
    await store.connect()
    channel = open_channel(service_address(config, "imaged"))
    try:
        containers, images = ContainerStore(store), ImagesClient(channel)
        for container_id in container_ids:
            with contextlib.suppress(NotFound):
                await images.remove_snapshot(container_id)
            with contextlib.suppress(NotFound):
                await containers.delete(container_id)
    finally:
        await channel.close()
        await store.close()


def remove_created_containers(cluster: Cluster, container_ids: list[str]) -> None:
    """Remove never-started containers: ``docker rm`` when it works, else record + snapshot."""
    left = [c for c in container_ids if cluster.docker("rm", "-f", c).returncode != 0]
    left = [c for c in left if cluster.docker("inspect", "--type", "container", c).returncode == 0]
    if left:
        asyncio.run(_remove(cluster, left))
