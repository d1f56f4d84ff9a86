"""What the routes need from the rest of the cluster, as small interfaces.

Each route module depends on the narrow protocol it uses, not on the concrete
gRPC clients, so unit tests hand the app fakes (moby's router/backend split).
:func:`connect_backends` builds the real ones: the typed service clients and
the etcd store.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from typing import Protocol

import grpc

from services.cgroupd.hostinfo import CgroupHostInfo
from services.common.config import DaemonConfig
from services.common.endpoints import service_address
from services.common.etcd_store import Entry, connect_store
from services.common.grpc_client import open_channel
from services.execd.client import RuntimeInfo
from services.imaged.models import (
    DeleteItem,
    Filters,
    HistoryEntry,
    ImageDetails,
    ImageSummary,
    ImportOptions,
    PruneResult,
)
from services.imaged.storeinfo import StoreInfo
from services.netd.hostinfo import NetworkInfo
from services.netd.models import Filters as NetworkFilters
from services.netd.models import Network, NetworkSpec

log = logging.getLogger(__name__)

ETCD_CONNECT_SECONDS = 10.0
"""How long start-up waits for etcd, which the launcher starts in parallel."""


class KeyValueStore(Protocol):
    """The part of :class:`services.common.etcd_store.Store` the gateway uses."""

    async def version(self) -> str: ...
    async def get(self, key: str) -> Entry | None: ...
    async def create(self, key: str, value: bytes) -> bool: ...


class ImageStoreBackend(Protocol):
    async def get_store_info(self) -> StoreInfo: ...
    async def import_image(self, options: ImportOptions, chunks: AsyncIterable[bytes]) -> str: ...
    async def list_images(
        self, filters: Filters | None = None, all_images: bool = False
    ) -> list[ImageSummary]: ...
    async def inspect_image(self, name: str) -> ImageDetails: ...
    async def image_history(self, name: str) -> list[HistoryEntry]: ...
    async def tag_image(self, source: str, repo: str, tag: str) -> None: ...
    async def remove_image(
        self, name: str, *, force: bool = False, no_prune: bool = False
    ) -> tuple[DeleteItem, ...]: ...
    async def prune_images(self, filters: Filters | None = None) -> PruneResult: ...


class NetworkBackend(Protocol):
    async def get_network_info(self) -> NetworkInfo: ...
    async def create_network(self, spec: NetworkSpec) -> Network: ...
    async def inspect_network(self, ref: str) -> Network: ...
    async def list_networks(self, filters: NetworkFilters | None = None) -> list[Network]: ...
    async def remove_network(self, ref: str) -> None: ...
    async def prune_networks(self, filters: NetworkFilters | None = None) -> list[str]: ...


class CgroupBackend(Protocol):
    async def get_host_info(self) -> CgroupHostInfo: ...


class RuntimeBackend(Protocol):
    async def get_runtime_info(self) -> RuntimeInfo: ...


@dataclass(frozen=True)
class Backends:
    """Everything the gateway coordinates, one field per service plus the store."""

    store: KeyValueStore
    images: ImageStoreBackend
    networks: NetworkBackend
    cgroups: CgroupBackend
    runtime: RuntimeBackend


@contextlib.asynccontextmanager
async def connect_backends(config: DaemonConfig) -> AsyncIterator[Backends]:
    """The real clients; channels connect lazily, so a service may start after us."""
    from services.cgroupd.client import CgroupsClient
    from services.execd.client import RuntimeClient
    from services.imaged.client import ImagesClient
    from services.netd.client import NetworksClient

    store = await connect_store(config.etcd_endpoints, ETCD_CONNECT_SECONDS)
    channels: dict[str, grpc.aio.Channel] = {}
    try:
        for name in ("imaged", "netd", "cgroupd", "execd"):
            channels[name] = open_channel(service_address(config, name))
        yield Backends(
            store=store,
            images=ImagesClient(channels["imaged"]),
            networks=NetworksClient(channels["netd"]),
            cgroups=CgroupsClient(channels["cgroupd"]),
            runtime=RuntimeClient(channels["execd"]),
        )
    finally:
        for channel in channels.values():
            with contextlib.suppress(Exception):
                await channel.close()
        await store.close()
