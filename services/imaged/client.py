"""Typed client of imaged: callers never touch protos."""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from dockyard.imaged.v1 import imaged_pb2, imaged_pb2_grpc
from services.common.grpc_client import DEFAULT_TIMEOUT, call
from services.common.grpc_errors import error_from_rpc
from services.imaged.models import CommitOptions as CommitRequest
from services.imaged.models import (
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
from services.imaged.storeinfo import StoreInfo

# Long operations (import, prune, snapshot mounts of deep images) get no short deadline.
LONG_TIMEOUT: float | None = None


@dataclass(frozen=True)
class PreparedSnapshot:
    rootfs: Path
    image_id: str


def _filters(filters: Filters | None) -> list[imaged_pb2.Filter]:
    return [imaged_pb2.Filter(name=k, values=list(v)) for k, v in (filters or {}).items()]


def _copy_mounts_pb(mounts: Sequence[CopyMount]) -> list[imaged_pb2.CopyMount]:
    return [imaged_pb2.CopyMount(source=m.source, destination=m.destination,
                                 read_only=m.read_only) for m in mounts]


def _items(items: Sequence[imaged_pb2.DeleteItem]) -> tuple[DeleteItem, ...]:
    return tuple(DeleteItem(untagged=i.untagged, deleted=i.deleted) for i in items)


class ImagesClient:
    def __init__(self, channel: grpc.aio.Channel, timeout: float = DEFAULT_TIMEOUT) -> None:
        self._stub = imaged_pb2_grpc.ImagesStub(channel)
        self._timeout = timeout

    async def get_store_info(self) -> StoreInfo:
        response: imaged_pb2.GetStoreInfoResponse = await call(
            lambda: self._stub.GetStoreInfo(
                imaged_pb2.GetStoreInfoRequest(), timeout=self._timeout
            )
        )
        return StoreInfo(
            driver=response.driver,
            driver_status=tuple((kv.key, kv.value) for kv in response.driver_status),
            image_count=response.image_count,
            data_root=response.data_root,
        )

    async def import_image(self, options: ImportOptions, chunks: AsyncIterable[bytes]) -> str:
        """Stream an archive to imaged; return the new image's ID."""

        async def requests() -> AsyncIterator[imaged_pb2.ImportImageRequest]:
            yield imaged_pb2.ImportImageRequest(options=imaged_pb2.ImportOptions(
                repo=options.repo, tag=options.tag, message=options.message,
                changes=list(options.changes), platform=options.platform,
            ))
            async for chunk in chunks:
                if chunk:
                    yield imaged_pb2.ImportImageRequest(chunk=chunk)

        response: imaged_pb2.ImportImageResponse = await call(
            lambda: self._stub.ImportImage(requests(), timeout=LONG_TIMEOUT)
        )
        return response.image_id

    async def list_images(
        self, filters: Filters | None = None, all_images: bool = False
    ) -> list[ImageSummary]:
        response: imaged_pb2.ListImagesResponse = await call(
            lambda: self._stub.ListImages(
                imaged_pb2.ListImagesRequest(filters=_filters(filters), all=all_images),
                timeout=self._timeout,
            )
        )
        return [
            ImageSummary(
                id=i.id, parent_id=i.parent_id, repo_tags=tuple(i.repo_tags),
                repo_digests=tuple(i.repo_digests), created=i.created, size=i.size,
                labels=dict(i.labels), containers=i.containers,
            )
            for i in response.images
        ]

    async def inspect_image(self, name: str) -> ImageDetails:
        response: imaged_pb2.InspectImageResponse = await call(
            lambda: self._stub.InspectImage(
                imaged_pb2.InspectImageRequest(name=name), timeout=self._timeout
            )
        )
        config: Mapping[str, Any] = json.loads(response.config_json)
        return ImageDetails(
            id=response.id, repo_tags=tuple(response.repo_tags),
            repo_digests=tuple(response.repo_digests), parent=response.parent,
            size=response.size, config=config, graph_driver=dict(response.graph_driver),
            last_tag_time=response.last_tag_time,
        )

    async def image_history(self, name: str) -> list[HistoryEntry]:
        response: imaged_pb2.GetImageHistoryResponse = await call(
            lambda: self._stub.GetImageHistory(
                imaged_pb2.GetImageHistoryRequest(name=name), timeout=self._timeout
            )
        )
        return [
            HistoryEntry(id=e.id, created=e.created, created_by=e.created_by,
                         tags=tuple(e.tags), size=e.size, comment=e.comment)
            for e in response.entries
        ]

    async def tag_image(self, source: str, repo: str, tag: str) -> None:
        await call(lambda: self._stub.TagImage(
            imaged_pb2.TagImageRequest(source=source, repo=repo, tag=tag), timeout=self._timeout
        ))

    async def remove_image(
        self, name: str, *, force: bool = False, no_prune: bool = False
    ) -> tuple[DeleteItem, ...]:
        response: imaged_pb2.RemoveImageResponse = await call(
            lambda: self._stub.RemoveImage(
                imaged_pb2.RemoveImageRequest(name=name, force=force, no_prune=no_prune),
                timeout=LONG_TIMEOUT,
            )
        )
        return _items(response.items)

    async def prune_images(self, filters: Filters | None = None) -> PruneResult:
        response: imaged_pb2.PruneImagesResponse = await call(
            lambda: self._stub.PruneImages(
                imaged_pb2.PruneImagesRequest(filters=_filters(filters)), timeout=LONG_TIMEOUT
            )
        )
        return PruneResult(deleted=_items(response.items),
                           space_reclaimed=response.space_reclaimed)

    async def prepare_snapshot(self, container_id: str, image: str) -> PreparedSnapshot:
        response: imaged_pb2.PrepareSnapshotResponse = await call(
            lambda: self._stub.PrepareSnapshot(
                imaged_pb2.PrepareSnapshotRequest(container_id=container_id, image=image),
                timeout=LONG_TIMEOUT,
            )
        )
        return PreparedSnapshot(rootfs=Path(response.rootfs), image_id=response.image_id)

    async def remove_snapshot(self, container_id: str) -> None:
        await call(lambda: self._stub.RemoveSnapshot(
            imaged_pb2.RemoveSnapshotRequest(container_id=container_id), timeout=LONG_TIMEOUT
        ))

    async def snapshot_changes(self, container_id: str) -> list[SnapshotChange]:
        response: imaged_pb2.ListSnapshotChangesResponse = await call(
            lambda: self._stub.ListSnapshotChanges(
                imaged_pb2.ListSnapshotChangesRequest(container_id=container_id),
                timeout=LONG_TIMEOUT,
            )
        )
        return [SnapshotChange(path=c.path, kind=c.kind) for c in response.changes]

    async def save_images(self, names: Sequence[str]) -> AsyncIterator[bytes]:
        """The `docker save` archive of ``names``, chunk by chunk.

        Unknown names fail on the first iteration, before any byte is produced.
        """
        stream = self._stub.SaveImages(imaged_pb2.SaveImagesRequest(names=list(names)),
                                       timeout=LONG_TIMEOUT)
        try:
            async for response in stream:
                yield response.chunk
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from None
        finally:
            stream.cancel()

    async def load_images(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[str]:
        """Send a load archive; yield dockerd's output lines ("Loaded image: …\\n")."""

        async def requests() -> AsyncIterator[imaged_pb2.LoadImagesRequest]:
            async for chunk in chunks:
                if chunk:
                    yield imaged_pb2.LoadImagesRequest(chunk=chunk)

        stream = self._stub.LoadImages(requests(), timeout=LONG_TIMEOUT)
        try:
            async for response in stream:
                yield response.line
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from None
        finally:
            stream.cancel()

    async def stat_container_path(self, container_id: str, path: str, container: str,
                                  pid: int = 0, *, mounts: Sequence[CopyMount] = ()) -> PathStat:
        """``HEAD /containers/{id}/archive``: what ``path`` is inside the container.

        ``mounts``: a stopped container's volumes and binds, seen where they are mounted.
        """
        response: imaged_pb2.StatContainerPathResponse = await call(
            lambda: self._stub.StatContainerPath(
                imaged_pb2.StatContainerPathRequest(
                    container_id=container_id, path=path, container=container, pid=pid,
                    mounts=_copy_mounts_pb(mounts)),
                timeout=self._timeout,
            )
        )
        return PathStat(name=response.name, size=response.size, mode=response.mode,
                        mtime=response.mtime, link_target=response.link_target)

    async def read_container_archive(
        self, container_id: str, path: str, container: str, pid: int = 0, *,
        mounts: Sequence[CopyMount] = (),
    ) -> AsyncIterator[bytes]:
        """``path`` of the container as a tar; a missing path fails on the first iteration."""
        stream = self._stub.ReadContainerArchive(
            imaged_pb2.ReadContainerArchiveRequest(
                container_id=container_id, path=path, container=container, pid=pid,
                mounts=_copy_mounts_pb(mounts)),
            timeout=LONG_TIMEOUT,
        )
        try:
            async for response in stream:
                yield response.chunk
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from None
        finally:
            stream.cancel()

    async def write_container_archive(
        self, container_id: str, path: str, container: str, chunks: AsyncIterable[bytes],
        *, no_overwrite_dir_non_dir: bool = False, owner: tuple[int, int] | str | None = None,
        pid: int = 0, mounts: Sequence[CopyMount] = (),
    ) -> None:
        """Extract the tar in ``chunks`` into the directory ``path`` of the container.

        ``owner`` is the uid/gid every entry gets, or a container user to look
        up in the container's passwd and group files; None keeps the archive's.
        """
        numeric = owner if isinstance(owner, tuple) else None

        async def requests() -> AsyncIterator[imaged_pb2.WriteContainerArchiveRequest]:
            yield imaged_pb2.WriteContainerArchiveRequest(
                options=imaged_pb2.WriteContainerArchiveOptions(
                    container_id=container_id, path=path, container=container,
                    no_overwrite_dir_non_dir=no_overwrite_dir_non_dir,
                    chown=owner is not None, uid=numeric[0] if numeric else 0,
                    gid=numeric[1] if numeric else 0, pid=pid,
                    user=owner if isinstance(owner, str) else "",
                    mounts=_copy_mounts_pb(mounts),
                )
            )
            async for chunk in chunks:
                if chunk:
                    yield imaged_pb2.WriteContainerArchiveRequest(chunk=chunk)

        await call(lambda: self._stub.WriteContainerArchive(requests(), timeout=LONG_TIMEOUT))

    async def export_container(self, container_id: str) -> AsyncIterator[bytes]:
        """The container's root filesystem as a tar, chunk by chunk."""
        stream = self._stub.ExportContainer(
            imaged_pb2.ExportContainerRequest(container_id=container_id), timeout=LONG_TIMEOUT
        )
        try:
            async for response in stream:
                yield response.chunk
        except grpc.aio.AioRpcError as exc:
            raise error_from_rpc(exc) from None
        finally:
            stream.cancel()

    async def commit_container(self, request: CommitRequest) -> str:
        """Make an image of the container's changes; its ID (``sha256:…``)."""
        response: imaged_pb2.CommitContainerResponse = await call(
            lambda: self._stub.CommitContainer(
                imaged_pb2.CommitContainerRequest(
                    container_id=request.container_id,
                    config_json=json.dumps(dict(request.config)).encode(),
                    changes=list(request.changes), comment=request.comment,
                    author=request.author, repo=request.repo, tag=request.tag,
                ),
                timeout=LONG_TIMEOUT,
            )
        )
        return response.image_id
