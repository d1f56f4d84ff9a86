"""``docker push``: an image's layers, config and manifest into a registry.

As dockerd's distribution/push_v2, per layer (``max-concurrent-uploads`` at a
time, progress under the layer's short DiffID):

1. blobs known to hold the layer (:mod:`.metadata`) are checked with HEAD on
   the target repository: "Layer already exists";
2. one known to be in another repository of the same registry is mounted
   (``POST …/blobs/uploads/?mount=<digest>&from=<repo>``): "Mounted from <repo>";
3. otherwise it is uploaded: the layer's kept archive as is when it is gzip,
   else a gzip made from it (deterministic, so the same layer always gives the
   same digest). Small blobs go in one PUT, large ones in PATCH chunks.

Then the config, then a Docker schema 2 manifest (indented with three spaces,
as Go's MarshalIndent writes it) under the tag; the last line is
``<tag>: digest: sha256:… size: N`` and the image gains that RepoDigest.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.common.errors import Internal, InvalidArgument, NotFound, Unauthorized
from services.imaged.archive import CHUNK, open_uncompressed
from services.imaged.catalog import parse_ref
from services.imaged.records import LayerRecord, RefRecord
from services.imaged.reference import DEFAULT_TAG, Reference, parse_normalized
from services.imaged.registry import metadata
from services.imaged.registry.api import Repository, connect, open_http, sha256_of
from services.imaged.registry.endpoints import host_endpoints, split_host
from services.imaged.registry.errors import RegistryNotFound, RegistryUnreachable
from services.imaged.registry.manifests import DOCKER_CONFIG, DOCKER_LAYER, DOCKER_MANIFEST
from services.imaged.registry.models import RegistryAuth
from services.imaged.registry.progress import Progress, short_id
from services.imaged.registry.pull import refused
from services.imaged.registry.settings import RegistrySettings
from services.imaged.service import ImageService

MONOLITHIC_LIMIT = 8 << 20
"""Blobs up to this size are uploaded in one PUT; larger ones in PATCH chunks of this size."""
GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class PushOptions:
    """``POST /images/{name}/push?tag=`` with its X-Registry-Auth."""

    name: str
    tag: str = ""
    auth: RegistryAuth = field(default_factory=RegistryAuth)


@dataclass(frozen=True)
class PushedBlob:
    digest: str
    size: int
    media_type: str


def manifest_bytes(config: PushedBlob, layers: list[PushedBlob]) -> bytes:
    """A Docker schema 2 manifest as dockerd serialises it."""
    def descriptor(blob: PushedBlob) -> dict[str, Any]:
        return {"mediaType": blob.media_type, "size": blob.size, "digest": blob.digest}

    document = {"schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
                "config": descriptor(config), "layers": [descriptor(b) for b in layers]}
    return json.dumps(document, indent=3).encode()


def _gzip_layer(source: Path, dest: Path) -> tuple[str, int]:
    """A gzip of the layer tar inside ``source`` (any compression); its digest and size."""
    with open(source, "rb") as raw, open(dest, "wb") as out:
        stream = open_uncompressed(raw)
        with gzip.GzipFile(fileobj=out, mode="wb", mtime=0, compresslevel=6) as packed:
            while chunk := stream.read(CHUNK):
                packed.write(chunk)
    hasher = hashlib.sha256()
    for chunk in _chunks(dest, CHUNK):
        hasher.update(chunk)
    return "sha256:" + hasher.hexdigest(), dest.stat().st_size


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as head:
        return head.read(2) == GZIP_MAGIC


def _chunks(path: Path, size: int) -> Iterator[bytes]:
    """A local file in pieces (read from the event loop: local disk, page cache)."""
    with open(path, "rb") as source:
        while chunk := source.read(size):
            yield chunk


class Pusher:
    def __init__(self, service: ImageService, settings: RegistrySettings,
                 progress: Progress) -> None:
        self.service = service
        self.settings = settings
        self.progress = progress
        self.temporary: list[Path] = []

    async def targets(self, reference: Reference) -> list[tuple[str, str]]:
        """(tag, image ID) pairs to push: the one tag, or every tag of the repository."""
        tags = sorted(
            (parsed.tag, ref.image_id) for ref in await self.service.catalog.refs()
            if (parsed := parse_ref(ref.reference)).name == reference.name and parsed.tag
        )
        if not tags:
            raise NotFound(
                f"An image does not exist locally with the tag: {reference.familiar_name}"
            )
        if reference.tag:
            chosen = [(tag, image) for tag, image in tags if tag == reference.tag]
            if not chosen:
                raise NotFound(f"tag does not exist: {reference.familiar}")
            return chosen
        return tags

    async def push(self, options: PushOptions) -> None:
        reference = parse_normalized(options.name)
        if reference.digest:
            raise InvalidArgument("cannot push a digest reference")
        if options.tag:
            reference = reference.with_tag(options.tag)
        self.progress.message("", f"The push refers to repository [{reference.name}]")
        targets = await self.targets(reference)
        last_error: Exception | None = None
        try:
            async with open_http() as http:
                for endpoint in await host_endpoints(reference.domain, self.settings):
                    try:
                        connection = await connect(http, endpoint, options.auth)
                    except RegistryUnreachable as exc:
                        last_error = exc
                        continue
                    repository = Repository(connection, reference.path, "pull,push")
                    for tag, image_id in targets:
                        await self.push_tag(repository, reference, tag or DEFAULT_TAG, image_id)
                    return
        finally:
            for path in self.temporary:
                path.unlink(missing_ok=True)
        assert last_error is not None
        raise last_error

    async def push_tag(self, repository: Repository, reference: Reference, tag: str,
                       image_id: str) -> None:
        service = self.service
        record = await service.catalog.image(image_id)
        if record is None:
            raise NotFound(f"No such image: {image_id}")
        config_bytes = service.blobs.read(image_id)
        known = await service.catalog.layers()
        layers = [known.get(chain) for chain in record.layers]
        if any(layer is None for layer in layers):
            raise Internal(f"image {image_id} has layers missing from the store")
        stack = [layer for layer in layers if layer is not None]
        for layer in stack:
            self.progress.update(short_id(layer.diff_id), "Preparing")
        for layer in stack[self.settings.max_concurrent_uploads:]:
            self.progress.update(short_id(layer.diff_id), "Waiting")
        limit = asyncio.Semaphore(self.settings.max_concurrent_uploads)

        async def one(layer: LayerRecord) -> PushedBlob:
            async with limit:
                return await self.push_layer(repository, reference, layer)

        pushed = list(await asyncio.gather(*(one(layer) for layer in stack)))
        config = PushedBlob(image_id, len(config_bytes), DOCKER_CONFIG)
        if await repository.blob_size(image_id) is None:
            _, location = await repository.start_upload()
            await repository.put_blob(location, image_id, config_bytes, len(config_bytes))
        body = manifest_bytes(config, pushed)
        digest = await repository.put_manifest(tag, DOCKER_MANIFEST, body)
        if digest != sha256_of(body):
            raise InvalidArgument(f"the registry stored the manifest as {digest}, "
                                  f"expected {sha256_of(body)}")
        self.progress.message("", f"{tag}: digest: {digest} size: {len(body)}")
        self.progress.aux({"Tag": tag, "Digest": digest, "Size": len(body)})
        async with service.lock:
            if await service.catalog.image(image_id) is not None:
                digested = Reference(reference.domain, reference.path, digest=digest)
                await service.catalog.put(RefRecord(str(digested), image_id))

    async def push_layer(self, repository: Repository, reference: Reference,
                         layer: LayerRecord) -> PushedBlob:
        progress_id = short_id(layer.diff_id)
        store = self.service.catalog.store
        target = reference.name
        known = await metadata.blobs_of(store, layer.diff_id)
        gzip_blobs = [b for b in known.blobs if b.media_type in (DOCKER_LAYER,)
                      or b.media_type.endswith("+gzip")]
        for blob in gzip_blobs:
            if not any(split_host(r.partition("/")[0]) == split_host(reference.domain)
                       for r in blob.repositories):
                continue
            if await repository.blob_size(blob.digest) is not None:
                self.progress.update(progress_id, "Layer already exists")
                return await self.remembered(layer, blob.digest, blob.size, target)
        for blob in gzip_blobs:
            for source in blob.repositories:
                domain, _, source_path = source.partition("/")
                if domain != reference.domain or source == target:
                    continue
                mounted, location = await repository.start_upload(mount=blob.digest,
                                                                  source=source_path)
                if mounted:
                    self.progress.update(progress_id, f"Mounted from {source_path}")
                    return await self.remembered(layer, blob.digest, blob.size, target)
                await repository.cancel_upload(location)
        digest, size, path = await self.layer_blob(layer)
        if await repository.blob_size(digest) is not None:
            self.progress.update(progress_id, "Layer already exists")
        else:
            await self.upload(repository, path, digest, size, progress_id)
            self.progress.update(progress_id, "Pushed")
        return await self.remembered(layer, digest, size, target)

    async def remembered(self, layer: LayerRecord, digest: str, size: int,
                         repository: str) -> PushedBlob:
        await metadata.remember(self.service.catalog.store, layer.diff_id,
                                metadata.BlobSource(digest, size, DOCKER_LAYER, (repository,)))
        return PushedBlob(digest, size, DOCKER_LAYER)

    async def layer_blob(self, layer: LayerRecord) -> tuple[str, int, Path]:
        """The gzip blob to upload for ``layer``: its archive, or a gzip made from it."""
        blobs = self.service.blobs
        if not layer.archive or not blobs.has(layer.archive):
            raise Internal(f"the archive of layer {layer.diff_id} is missing from the content "
                           "store; it cannot be pushed")
        source = blobs.path(layer.archive)
        if _is_gzip(source):
            return layer.archive, source.stat().st_size, source
        packed = blobs.tmp / f"push-{uuid.uuid4().hex}"
        self.temporary.append(packed)
        digest, size = await asyncio.to_thread(_gzip_layer, source, packed)
        return digest, size, packed

    async def upload(self, repository: Repository, path: Path, digest: str, size: int,
                     progress_id: str) -> None:
        _, location = await repository.start_upload()
        try:
            if size <= MONOLITHIC_LIMIT:
                await repository.put_blob(location, digest,
                                          self._file_chunks(path, progress_id, size), size)
                return
            sent = 0
            for chunk in _chunks(path, MONOLITHIC_LIMIT):
                location = await repository.patch_chunk(location, chunk, sent)
                sent += len(chunk)
                self.progress.bytes(progress_id, "Pushing", sent, size, final=sent == size)
            await repository.put_blob(location, digest, b"", 0)
        except BaseException:
            await repository.cancel_upload(location)
            raise

    async def _file_chunks(self, path: Path, progress_id: str,
                           size: int) -> AsyncIterator[bytes]:
        sent = 0
        for chunk in _chunks(path, CHUNK):
            sent += len(chunk)
            self.progress.bytes(progress_id, "Pushing", sent, size, final=sent == size)
            yield chunk


async def push_image(service: ImageService, settings: RegistrySettings, progress: Progress,
                     options: PushOptions) -> None:
    try:
        await Pusher(service, settings, progress).push(options)
    except RegistryNotFound as exc:
        raise NotFound(exc.message) from None
    except Unauthorized as exc:
        raise refused(exc) from None
