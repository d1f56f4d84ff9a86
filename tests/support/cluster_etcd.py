"""Reading and writing a running test cluster's etcd directly, as another client would."""

from __future__ import annotations

import asyncio

from services.common.etcd_store import Store
from tests.support.cluster import Cluster


def etcd_endpoints(cluster: Cluster) -> list[str]:
    return list(cluster.state()["etcd_endpoints"])


async def _put(endpoints: list[str], key: str, value: bytes) -> None:
    store = Store(endpoints)
    await store.connect()
    try:
        await store.put(key, value)
    finally:
        await store.close()


async def _get(endpoints: list[str], key: str) -> bytes | None:
    store = Store(endpoints)
    await store.connect()
    try:
        entry = await store.get(key)
        return entry.value if entry is not None else None
    finally:
        await store.close()


def etcd_put(cluster: Cluster, key: str, value: bytes) -> None:
    """Write ``key`` (under Dockyard's prefix) behind the cluster's services."""
    asyncio.run(_put(etcd_endpoints(cluster), key, value))


def etcd_get(cluster: Cluster, key: str) -> bytes | None:
    return asyncio.run(_get(etcd_endpoints(cluster), key))
