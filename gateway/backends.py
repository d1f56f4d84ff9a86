"""What the routes need from the rest of the cluster, as small interfaces.

Each route module depends on the narrow protocol it uses, not on the concrete
gRPC clients, so unit tests hand the app fakes (moby's router/backend split).
:func:`connect_backends` builds the real ones: the typed service clients and
the etcd store.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import grpc

from gateway.containers.health_rules import HEALTH_PREFIX
from gateway.containers.lifecycle import ContainerLifecycle
from gateway.containers.records import CONTAINERS, NAMES
from gateway.containers.store import ContainerStore, RecordReads
from gateway.store_mirror import StoreMirror
from services.cgroupd.hostinfo import CgroupHostInfo
from services.cgroupd.manager import CgroupState
from services.cgroupd.resources import Resources
from services.cgroupd.stats import StatsSample
from services.common.config import DaemonConfig
from services.common.endpoints import service_address
from services.common.etcd_store import Condition, Entry, Write, connect_store
from services.common.grpc_client import open_channel
from services.common.owned_keys import OwnedKeys
from services.execd.client import ContainersClient, RuntimeInfo
from services.execd.models import RUNTIME_PREFIX
from services.imaged.client import PreparedSnapshot
from services.imaged.models import (
    CommitOptions,
    CopyMount,
    DeleteItem,
    Filters,
    HistoryEntry,
    ImageDetails,
    ImageSummary,
    ImportOptions,
    PathStat,
    PruneResult,
    SnapshotChange,
)
from services.imaged.registry.models import (
    DistributionInfo,
    LoginResult,
    ProgressEvent,
    RegistryAuth,
    SearchResult,
)
from services.imaged.storeinfo import StoreInfo
from services.imaged.volumes.models import Volume, VolumePruneResult, VolumeSpec
from services.netd.hostinfo import NetworkInfo
from services.netd.models import (
    EndpointRequest,
    InterfaceStats,
    Network,
    NetworkSpec,
    Sandbox,
)
from services.netd.models import Filters as NetworkFilters

log = logging.getLogger(__name__)

ETCD_CONNECT_SECONDS = 10.0
"""How long start-up waits for etcd, which the launcher starts in parallel."""
MIRRORED_PREFIXES = (RUNTIME_PREFIX, HEALTH_PREFIX)
"""What ``docker ps`` and ``docker inspect`` read of other writers' keys, kept in the
gateway's memory by a watch (the container records are the gateway's own: OwnedKeys)."""
OWNED_PREFIXES = (CONTAINERS, NAMES, HEALTH_PREFIX)
"""The container records, names and health results: the gateway is their only writer,
so its memory answers their reads (services/common/owned_keys.py)."""


class KeyValueStore(Protocol):
    """The part of :class:`services.common.etcd_store.Store` the gateway uses."""

    async def version(self) -> str: ...
    async def get(self, key: str) -> Entry | None: ...
    async def get_prefix(self, prefix: str) -> list[Entry]: ...
    async def create(self, key: str, value: bytes) -> bool: ...
    async def commit(self, conditions: Sequence[Condition], writes: Sequence[Write]) -> bool: ...


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
    def save_images(self, names: Sequence[str]) -> AsyncIterator[bytes]: ...
    def load_images(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[str]: ...
    async def prepare_snapshot(self, container_id: str, image: str) -> PreparedSnapshot: ...
    async def remove_snapshot(self, container_id: str) -> None: ...
    async def snapshot_changes(self, container_id: str) -> list[SnapshotChange]: ...
    async def stat_container_path(
        self, container_id: str, path: str, container: str, pid: int = 0, *,
        mounts: Sequence[CopyMount] = (),
    ) -> PathStat: ...
    def read_container_archive(
        self, container_id: str, path: str, container: str, pid: int = 0, *,
        mounts: Sequence[CopyMount] = (),
    ) -> AsyncIterator[bytes]: ...
    async def write_container_archive(
        self, container_id: str, path: str, container: str, chunks: AsyncIterable[bytes],
        *, no_overwrite_dir_non_dir: bool = False, owner: tuple[int, int] | str | None = None,
        pid: int = 0, mounts: Sequence[CopyMount] = (),
    ) -> None: ...
    def export_container(self, container_id: str) -> AsyncIterator[bytes]: ...
    async def commit_container(self, request: CommitOptions) -> str: ...


class NetworkBackend(Protocol):
    async def get_network_info(self) -> NetworkInfo: ...
    async def create_network(self, spec: NetworkSpec) -> Network: ...
    async def inspect_network(self, ref: str) -> Network: ...
    async def list_networks(self, filters: NetworkFilters | None = None) -> list[Network]: ...
    async def remove_network(self, ref: str) -> None: ...
    async def prune_networks(self, filters: NetworkFilters | None = None) -> list[str]: ...
    # A container's sandbox (``docker network connect/disconnect``, rename).
    async def get_sandbox(self, container_id: str) -> Sandbox: ...
    async def connect_container(self, container_id: str, request: EndpointRequest) -> Sandbox: ...
    async def disconnect_container(self, container_id: str, network: str,
                                   force: bool = False) -> Sandbox: ...
    async def check_endpoint(self, request: EndpointRequest,
                             joined_networks: tuple[str, ...] = ()) -> Network: ...
    async def rename_sandbox(self, container_id: str, name: str) -> Sandbox: ...
    async def sandbox_stats(self, container_id: str) -> dict[str, InterfaceStats]: ...


class CgroupBackend(Protocol):
    async def get_host_info(self) -> CgroupHostInfo: ...
    async def get_stats(
        self, container_id: str, *, one_shot: bool = False
    ) -> tuple[StatsSample, StatsSample | None]: ...
    async def update_resources(self, container_id: str, change: Resources) -> CgroupState: ...


class RuntimeBackend(Protocol):
    async def get_runtime_info(self) -> RuntimeInfo: ...


class VolumeBackend(Protocol):
    async def create_volume(self, spec: VolumeSpec) -> Volume: ...
    async def inspect_volume(self, name: str) -> Volume: ...
    async def list_volumes(self, filters: Filters | None = None) -> list[Volume]: ...
    async def remove_volume(self, name: str, *, force: bool = False) -> None: ...
    async def prune_volumes(self, filters: Filters | None = None) -> VolumePruneResult: ...
    async def reference_volume(self, name: str, container_id: str) -> None: ...
    async def release_volume(self, name: str, container_id: str) -> None: ...


class DistributionBackend(Protocol):
    """imaged's registry operations (pull, push, login, remote inspect)."""

    def pull_image(self, image: str, tag: str = "", platform: str = "",
                   auth: RegistryAuth | None = None) -> AsyncIterator[ProgressEvent]: ...
    def push_image(self, name: str, tag: str = "",
                   auth: RegistryAuth | None = None) -> AsyncIterator[ProgressEvent]: ...
    async def check_auth(self, auth: RegistryAuth) -> LoginResult: ...
    async def get_distribution(self, name: str,
                               auth: RegistryAuth | None = None) -> DistributionInfo: ...
    async def search_images(self, term: str, limit: int = 0, filters: Filters | None = None,
                            auth: RegistryAuth | None = None) -> list[SearchResult]: ...


@dataclass(frozen=True)
class Backends:
    """Everything the gateway coordinates, one field per service plus the store."""

    store: KeyValueStore
    images: ImageStoreBackend
    networks: NetworkBackend
    cgroups: CgroupBackend
    runtime: RuntimeBackend
    processes: ContainersClient | None = None
    """execd's container calls; None in unit tests that run no cluster."""
    lifecycle: ContainerLifecycle | None = None
    """Start/stop/remove across the services; None in unit tests that run no cluster."""
    distribution: DistributionBackend | None = None
    """imaged's registry calls; None in unit tests that do not use them."""
    volumes: VolumeBackend | None = None
    """imaged's volume calls; None in unit tests that do not use them."""
    mirror: StoreMirror | None = None
    """Other writers' keys in memory (gateway/store_mirror.py); None: reads go to the store."""
    own_keys: OwnedKeys | None = None
    """The keys the gateway writes (records, names, health results), answered from its
    memory; None in unit tests that run no cluster."""

    @property
    def reads(self) -> RecordReads:
        """Where plain reads of container records, runtime states and health go."""
        return self.mirror if self.mirror is not None else self.store

    @functools.cached_property
    def containers(self) -> ContainerStore:
        """The container records (kept in the store; the gateway is their only writer).

        One store of them for the whole gateway: the lifecycle's, whose memory
        of them every write goes through.
        """
        if self.lifecycle is not None:
            return self.lifecycle.records
        return ContainerStore(self.store, self.reads)


@contextlib.asynccontextmanager
async def connect_backends(config: DaemonConfig) -> AsyncIterator[Backends]:
    """The real clients; channels connect lazily, so a service may start after us."""
    from services.cgroupd.client import CgroupsClient
    from services.execd.client import RuntimeClient
    from services.imaged.client import ImagesClient
    from services.imaged.registry.client import DistributionClient
    from services.imaged.volumes_client import VolumesClient
    from services.netd.client import NetworksClient

    store = await connect_store(config.etcd_endpoints, ETCD_CONNECT_SECONDS)
    channels: dict[str, grpc.aio.Channel] = {}
    mirror = StoreMirror(store, MIRRORED_PREFIXES)
    mirror.start()
    try:
        for name in ("imaged", "netd", "cgroupd", "execd"):
            channels[name] = open_channel(service_address(config, name))
        images = ImagesClient(channels["imaged"])
        networks = NetworksClient(channels["netd"])
        cgroups = CgroupsClient(channels["cgroupd"])
        processes = ContainersClient(channels["execd"])
        volumes = VolumesClient(channels["imaged"])
        own_keys = OwnedKeys(store, OWNED_PREFIXES)
        lifecycle = ContainerLifecycle(
            ContainerStore(own_keys), store, processes, networks, cgroups, images, volumes=volumes,
        )
        yield Backends(
            store=store,
            images=images,
            networks=networks,
            cgroups=cgroups,
            runtime=RuntimeClient(channels["execd"]),
            processes=processes,
            lifecycle=lifecycle,
            distribution=DistributionClient(channels["imaged"]),
            volumes=volumes,
            mirror=mirror,
            own_keys=own_keys,
        )
    finally:
        await mirror.close()
        for channel in channels.values():
            with contextlib.suppress(Exception):
                await channel.close()
        await store.close()

