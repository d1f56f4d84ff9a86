"""gRPC shell of imaged: converts between protos and the domain modules."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import grpc

from dockyard.imaged.v1 import imaged_pb2, imaged_pb2_grpc
from dockyard.types.v1 import types_pb2
from services.common.errors import InvalidArgument, NotFound
from services.common.etcd_store import Store
from services.common.grpc_errors import Context
from services.common.grpc_server import ServiceContext
from services.common.owned_keys import OwnedKeys
from services.common.users import resolve_user
from services.imaged.commit import commit_container
from services.imaged.container_fs import (
    ExtractOptions,
    extract_tar,
    stat_path,
    write_export_tar,
    write_path_tar,
)
from services.imaged.container_root import container_root
from services.imaged.importer import ChunkReader, import_image
from services.imaged.loader import load_images
from services.imaged.models import CommitOptions, CopyMount, DeleteItem, Filters, ImportOptions
from services.imaged.records import IMAGES, LAYERS, REFS, SNAPSHOTS
from services.imaged.registry.metadata import DISTRIBUTION
from services.imaged.registry.servicer import add_distribution
from services.imaged.registry.settings import settings_from
from services.imaged.removal import prune_images, remove_image
from services.imaged.saver import plan_save, stream_archive
from services.imaged.service import ImageService
from services.imaged.storeinfo import overlay2_status
from services.imaged.threadstream import stream_from_thread
from services.imaged.volumes.records import USERS, VOLUMES
from services.imaged.volumes.servicer import add_volumes

OWNED_PREFIXES = (IMAGES, REFS, LAYERS, SNAPSHOTS, VOLUMES, USERS, DISTRIBUTION)
"""imaged's keys, answered from its memory (services/common/owned_keys.py)."""


def _filters(filters: Sequence[imaged_pb2.Filter]) -> Filters:
    out: dict[str, tuple[str, ...]] = {}
    for f in filters:
        out[f.name] = (*out.get(f.name, ()), *f.values)
    return out


def _items(items: Sequence[DeleteItem]) -> list[imaged_pb2.DeleteItem]:
    return [imaged_pb2.DeleteItem(untagged=i.untagged, deleted=i.deleted) for i in items]


def _copy_mounts(mounts: Sequence[imaged_pb2.CopyMount]) -> tuple[CopyMount, ...]:
    return tuple(CopyMount(source=m.source, destination=m.destination, read_only=m.read_only)
                 for m in mounts)


class ImagesServicer(imaged_pb2_grpc.ImagesServicer):
    def __init__(self, store: Store, data_root: Path, service: ImageService) -> None:
        self._store = store
        self._data_root = data_root
        self._service = service
        # The backing filesystem does not change while the service runs.
        self._driver_status = overlay2_status(data_root)

    async def GetStoreInfo(
        self, request: imaged_pb2.GetStoreInfoRequest, context: Context
    ) -> imaged_pb2.GetStoreInfoResponse:
        return imaged_pb2.GetStoreInfoResponse(
            driver="overlay2",
            driver_status=[types_pb2.KeyValue(key=k, value=v) for k, v in self._driver_status],
            image_count=await self._store.count_prefix(IMAGES),
            data_root=str(self._data_root),
        )

    async def ImportImage(
        self, request_iterator: AsyncIterator[imaged_pb2.ImportImageRequest], context: Context
    ) -> imaged_pb2.ImportImageResponse:
        first = await anext(request_iterator, None)
        if first is None or first.WhichOneof("part") != "options":
            raise InvalidArgument("import stream must start with its options")
        o = first.options
        options = ImportOptions(repo=o.repo, tag=o.tag, message=o.message,
                                changes=tuple(o.changes), platform=o.platform)

        async def chunks() -> AsyncIterator[bytes]:
            async for message in request_iterator:
                if message.WhichOneof("part") != "chunk":
                    raise InvalidArgument("import options may be sent only once")
                yield message.chunk

        image_id = await import_image(self._service, options, chunks())
        return imaged_pb2.ImportImageResponse(image_id=image_id)

    async def ListImages(
        self, request: imaged_pb2.ListImagesRequest, context: Context
    ) -> imaged_pb2.ListImagesResponse:
        images = await self._service.list_images(_filters(request.filters), request.all)
        return imaged_pb2.ListImagesResponse(images=[
            imaged_pb2.ImageSummary(
                id=i.id, parent_id=i.parent_id, repo_tags=i.repo_tags,
                repo_digests=i.repo_digests, created=i.created, size=i.size,
                labels=dict(i.labels), containers=i.containers,
            )
            for i in images
        ])

    async def InspectImage(
        self, request: imaged_pb2.InspectImageRequest, context: Context
    ) -> imaged_pb2.InspectImageResponse:
        details = await self._service.inspect(request.name)
        return imaged_pb2.InspectImageResponse(
            id=details.id, repo_tags=details.repo_tags, repo_digests=details.repo_digests,
            parent=details.parent, size=details.size,
            config_json=self._service.blobs.read(details.id),
            graph_driver=dict(details.graph_driver), last_tag_time=details.last_tag_time,
        )

    async def GetImageHistory(
        self, request: imaged_pb2.GetImageHistoryRequest, context: Context
    ) -> imaged_pb2.GetImageHistoryResponse:
        entries = await self._service.history(request.name)
        return imaged_pb2.GetImageHistoryResponse(entries=[
            imaged_pb2.HistoryEntry(id=e.id, created=e.created, created_by=e.created_by,
                                    tags=e.tags, size=e.size, comment=e.comment)
            for e in entries
        ])

    async def TagImage(
        self, request: imaged_pb2.TagImageRequest, context: Context
    ) -> imaged_pb2.TagImageResponse:
        await self._service.tag(request.source, request.repo, request.tag)
        return imaged_pb2.TagImageResponse()

    async def RemoveImage(
        self, request: imaged_pb2.RemoveImageRequest, context: Context
    ) -> imaged_pb2.RemoveImageResponse:
        items = await remove_image(self._service, request.name, force=request.force,
                                   prune=not request.no_prune)
        return imaged_pb2.RemoveImageResponse(items=_items(items))

    async def PruneImages(
        self, request: imaged_pb2.PruneImagesRequest, context: Context
    ) -> imaged_pb2.PruneImagesResponse:
        result = await prune_images(self._service, _filters(request.filters))
        return imaged_pb2.PruneImagesResponse(items=_items(result.deleted),
                                              space_reclaimed=result.space_reclaimed)

    async def PrepareSnapshot(
        self, request: imaged_pb2.PrepareSnapshotRequest, context: Context
    ) -> imaged_pb2.PrepareSnapshotResponse:
        rootfs = await self._service.prepare_snapshot(request.container_id, request.image)
        snapshot = await self._service.catalog.snapshot(request.container_id)
        return imaged_pb2.PrepareSnapshotResponse(
            rootfs=str(rootfs), image_id=snapshot.image_id if snapshot else ""
        )

    async def RemoveSnapshot(
        self, request: imaged_pb2.RemoveSnapshotRequest, context: Context
    ) -> imaged_pb2.RemoveSnapshotResponse:
        await self._service.remove_snapshot(request.container_id)
        return imaged_pb2.RemoveSnapshotResponse()

    async def SaveImages(
        self, request: imaged_pb2.SaveImagesRequest, context: Context
    ) -> AsyncIterator[imaged_pb2.SaveImagesResponse]:
        plan = await plan_save(self._service, list(request.names))
        async for chunk in stream_archive(plan):
            yield imaged_pb2.SaveImagesResponse(chunk=chunk)

    async def LoadImages(
        self, request_iterator: AsyncIterator[imaged_pb2.LoadImagesRequest], context: Context
    ) -> AsyncIterator[imaged_pb2.LoadImagesResponse]:
        async def chunks() -> AsyncIterator[bytes]:
            async for message in request_iterator:
                yield message.chunk

        for line in await load_images(self._service, chunks()):
            yield imaged_pb2.LoadImagesResponse(line=line)

    async def ListSnapshotChanges(
        self, request: imaged_pb2.ListSnapshotChangesRequest, context: Context
    ) -> imaged_pb2.ListSnapshotChangesResponse:
        changes = await self._service.snapshot_changes(request.container_id)
        return imaged_pb2.ListSnapshotChangesResponse(
            changes=[imaged_pb2.SnapshotChange(path=c.path, kind=c.kind) for c in changes]
        )

    async def _snapshot_root(self, container_id: str) -> str:
        if await self._service.catalog.snapshot(container_id) is None:
            raise NotFound(f"no snapshot for container {container_id}")
        return str(self._service.snapshotter.mount_point(container_id))

    async def StatContainerPath(
        self, request: imaged_pb2.StatContainerPathRequest, context: Context
    ) -> imaged_pb2.StatContainerPathResponse:
        snapshot = await self._snapshot_root(request.container_id)
        with container_root(snapshot, request.container_id, request.pid,
                            _copy_mounts(request.mounts), self._data_root) as root:
            st = await asyncio.to_thread(stat_path, root, request.path, request.container)
        return imaged_pb2.StatContainerPathResponse(
            name=st.name, size=st.size, mode=st.mode, mtime=st.mtime,
            link_target=st.link_target,
        )

    async def ReadContainerArchive(
        self, request: imaged_pb2.ReadContainerArchiveRequest, context: Context
    ) -> AsyncIterator[imaged_pb2.ReadContainerArchiveResponse]:
        snapshot = await self._snapshot_root(request.container_id)
        path, name = request.path, request.container
        with container_root(snapshot, request.container_id, request.pid,
                            _copy_mounts(request.mounts), self._data_root) as root:
            # Fails NOT_FOUND before the first byte when the path is missing.
            await asyncio.to_thread(stat_path, root, path, name)
            async for chunk in stream_from_thread(
                lambda out: write_path_tar(root, path, name, out)
            ):
                yield imaged_pb2.ReadContainerArchiveResponse(chunk=chunk)

    async def WriteContainerArchive(
        self, request_iterator: AsyncIterator[imaged_pb2.WriteContainerArchiveRequest],
        context: Context,
    ) -> imaged_pb2.WriteContainerArchiveResponse:
        first = await anext(request_iterator, None)
        if first is None or first.WhichOneof("part") != "options":
            raise InvalidArgument("archive upload must start with its options")
        o = first.options
        snapshot = await self._snapshot_root(o.container_id)

        async def chunks() -> AsyncIterator[bytes]:
            async for message in request_iterator:
                if message.WhichOneof("part") != "chunk":
                    raise InvalidArgument("archive options may be sent only once")
                yield message.chunk

        with container_root(snapshot, o.container_id, o.pid, _copy_mounts(o.mounts),
                            self._data_root) as root:
            owner = (o.uid, o.gid) if o.chown else None
            if o.chown and o.user:
                user = await asyncio.to_thread(resolve_user, root, o.user)
                owner = (user.uid, user.gid)
            options = ExtractOptions(no_overwrite_dir_non_dir=o.no_overwrite_dir_non_dir,
                                     owner=owner)
            reader = io.BufferedReader(ChunkReader(chunks(), asyncio.get_running_loop()))
            await asyncio.to_thread(extract_tar, root, o.path, o.container, reader, options)
        return imaged_pb2.WriteContainerArchiveResponse()

    async def ExportContainer(
        self, request: imaged_pb2.ExportContainerRequest, context: Context
    ) -> AsyncIterator[imaged_pb2.ExportContainerResponse]:
        root = await self._snapshot_root(request.container_id)
        async for chunk in stream_from_thread(lambda out: write_export_tar(root, out)):
            yield imaged_pb2.ExportContainerResponse(chunk=chunk)

    async def CommitContainer(
        self, request: imaged_pb2.CommitContainerRequest, context: Context
    ) -> imaged_pb2.CommitContainerResponse:
        try:
            config = json.loads(request.config_json or b"{}")
        except ValueError as exc:
            raise InvalidArgument(f"invalid container config: {exc}") from None
        if not isinstance(config, dict):
            raise InvalidArgument("container config must be a JSON object")
        image_id = await commit_container(self._service, CommitOptions(
            container_id=request.container_id, config=config, changes=tuple(request.changes),
            comment=request.comment, author=request.author, repo=request.repo, tag=request.tag,
        ))
        return imaged_pb2.CommitContainerResponse(image_id=image_id)


async def register(server: grpc.aio.Server, context: ServiceContext) -> Sequence[str]:
    context.paths.data_root.mkdir(parents=True, exist_ok=True)
    store = OwnedKeys(context.store, OWNED_PREFIXES)
    service = ImageService(store, context.paths.data_root)
    await service.setup()
    imaged_pb2_grpc.add_ImagesServicer_to_server(
        ImagesServicer(store, context.paths.data_root, service), server
    )
    distribution = add_distribution(server, service, settings_from(context.config))
    volumes = await add_volumes(server, store, context.paths.data_root, service)
    return [imaged_pb2.DESCRIPTOR.services_by_name["Images"].full_name, distribution, volumes]
