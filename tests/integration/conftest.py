"""Fixtures of the integration tests: a real etcd per module and a clean store per test."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from services.common.etcd_store import Store
from tests.support.etcd import running_etcd


@pytest.fixture(scope="module")
def etcd_url() -> Iterator[str]:
    with running_etcd() as url:
        yield url


@pytest.fixture
async def store(etcd_url: str) -> AsyncIterator[Store]:
    """A connected store; everything under Dockyard's prefix is removed afterwards."""
    store = Store([etcd_url])
    await store.connect()
    yield store
    await store.client.delete_prefix(b"/dockyard/v1/")
    await store.close()
