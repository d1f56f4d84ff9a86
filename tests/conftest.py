"""Fixtures shared by every test layer: real clusters in temporary roots, and the root marker."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.cluster import Cluster, start_cluster

IS_ROOT = os.geteuid() == 0

# The `registry` and `auth_registry` fixtures (real docker-registry servers).
pytest_plugins = ["tests.support.registry"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip tests marked ``root`` when not running as root."""
    if IS_ROOT:
        return
    skip = pytest.mark.skip(reason="needs root and the real parts (etcd, runc, netlink, cgroups)")
    for item in items:
        if "root" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    """One running cluster shared by the whole session (the e2e tests' engine)."""
    if not IS_ROOT:
        pytest.skip("a cluster needs root")
    started = start_cluster()
    try:
        yield started
    finally:
        started.stop()


MakeCluster = Callable[..., Cluster]


@pytest.fixture
def make_cluster() -> Iterator[MakeCluster]:
    """A factory of private clusters, all stopped and removed when the test ends.

    ``make_cluster(daemon_json={...}, extra_args=(...), host="unix://...", start=False)``
    """
    if not IS_ROOT:
        pytest.skip("a cluster needs root")
    made: list[Cluster] = []

    def make(**kwargs: Any) -> Cluster:
        start = kwargs.pop("start", True)
        created = start_cluster(start=False, **kwargs)
        made.append(created)
        if start:
            created.start()
        return created

    try:
        yield make
    finally:
        for created in reversed(made):
            created.stop()
