"""``docker pull``: an image from a registry into the content and layer stores.

As dockerd's distribution/pull_v2:

1. the manifest is fetched (a tag is resolved with HEAD, then fetched by
   digest); an index is narrowed to the requested platform's manifest.
   Nothing is reported until then, so "not found" and auth failures are plain
   HTTP errors; after "Pulling from …" errors travel inside the stream;
2. an image whose config (= image ID) is already here needs no layers;
3. otherwise the config is fetched, and each layer whose chain ID is not here
   is downloaded (``max-concurrent-downloads`` at a time) into the content
   store's tmp/, verified while it streams, and unpacked in order as soon as
   it and the layers below it are in (downloads and unpacking overlap);
4. under imaged's lock the layers are registered (the downloaded blob is kept
   as the layer's archive, see :mod:`services.imaged.layerimport`), then the
   config, the image record, its tag and its digest reference.

A failure anywhere removes what this pull staged; registration is all or
nothing, so no partial image is ever visible.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.common.errors import Conflict, Forbidden, InvalidArgument, NotFound, Unauthorized
from services.imaged.layerimport import StagedLayer, discard, register_layer
from services.imaged.layers import chain_ids
from services.imaged.records import ImageRecord, RefRecord
from services.imaged.reference import Reference, check_digest, parse_normalized
from services.imaged.registry import metadata
from services.imaged.registry.api import Repository, connect, open_http, sha256_of
from services.imaged.registry.download import download_blob
from services.imaged.registry.endpoints import pull_endpoints
from services.imaged.registry.errors import (
    RegistryNotFound,
    RegistryUnreachable,
    not_found_for_pull,
)
from services.imaged.registry.manifests import (
    Descriptor,
    ImageIndex,
    ImageManifest,
    config_platform,
    format_platform,
    host_platform,
    parse_manifest,
    parse_platform,
    platform_matches,
    select_manifest,
)
from services.imaged.registry.models import Platform, RegistryAuth
from services.imaged.registry.progress import CountingReader, Progress, short_id
from services.imaged.registry.settings import RegistrySettings
from services.imaged.service import ImageService, labels_of, unix_of
from services.imaged.unpack import unpack

ROOTFS_MISMATCH = "layers from manifest don't match image configuration"


@dataclass(frozen=True)
class PullOptions:
    """``POST /images/create?fromImage=&tag=&platform=`` with its X-Registry-Auth."""

    image: str
    tag: str = ""
    platform: str = ""
    auth: RegistryAuth = field(default_factory=RegistryAuth)


def pull_reference(image: str, tag: str) -> Reference:
    """dockerd's postImagesCreate: ``tag`` may be a tag or a digest; neither means all tags."""
    reference = parse_normalized(image)
    if not tag:
        return reference
    if ":" in tag and not tag.startswith(":"):
        check_digest(tag)
        return Reference(reference.domain, reference.path, digest=tag)
    return reference.with_tag(tag)


def _diff_ids(config: dict[str, Any]) -> list[str]:
    rootfs = config.get("rootfs")
    ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(rootfs, dict) or rootfs.get("type") != "layers" or not isinstance(ids, list):
        raise InvalidArgument("invalid rootfs in image configuration")
    for diff_id in ids:
        if not isinstance(diff_id, str) or not diff_id.startswith("sha256:"):
            raise InvalidArgument("invalid rootfs in image configuration")
        check_digest(diff_id)
    return list(ids)


class Puller:
    """One ``docker pull`` of one reference."""

    def __init__(self, service: ImageService, settings: RegistrySettings,
                 progress: Progress) -> None:
        self.service = service
        self.settings = settings
        self.progress = progress

    async def pull(self, options: PullOptions) -> None:
        reference = pull_reference(options.image, options.tag)
        wanted = parse_platform(options.platform)
        last_error: Exception | None = None
        async with open_http() as http:
            for endpoint in await pull_endpoints(reference.domain, self.settings):
                try:
                    connection = await connect(http, endpoint, options.auth)
                    repository = Repository(connection, reference.path)
                    if reference.tag or reference.digest:
                        updated = await self.pull_one(repository, reference, wanted)
                    else:
                        updated = await self.pull_all_tags(repository, reference, wanted)
                except RegistryUnreachable as exc:
                    last_error = exc
                    continue
                except Exception as exc:
                    # A mirror that lacks the image is skipped, as dockerd does, as long
                    # as nothing was reported yet.
                    if endpoint.mirror and not self.progress.started:
                        last_error = exc
                        continue
                    raise
                status = "Downloaded newer image" if updated else "Image is up to date"
                self.progress.message("", f"Status: {status} for {reference.familiar}")
                return
        assert last_error is not None
        raise last_error

    async def pull_all_tags(self, repository: Repository, reference: Reference,
                            wanted: Platform | None) -> bool:
        try:
            tags = await repository.tags()
        except RegistryNotFound as exc:
            raise not_found_for_pull(exc, reference.familiar, reference.familiar_name) from None
        updated = False
        for tag in tags:
            updated = await self.pull_one(repository, reference.with_tag(tag), wanted) or updated
        return updated

    async def pull_one(self, repository: Repository, reference: Reference,
                       wanted: Platform | None) -> bool:
        """Pull one tag or digest; whether a tag or digest reference changed."""
        try:
            fetched = await repository.get_manifest(reference.digest or reference.tag)
        except RegistryNotFound as exc:
            raise not_found_for_pull(exc, reference.familiar, reference.familiar_name) from None
        parsed = parse_manifest(fetched.body, fetched.media_type)
        manifest: ImageManifest
        if isinstance(parsed, ImageIndex):
            chosen = select_manifest(parsed, wanted or host_platform())
            child = await repository.get_manifest(chosen.digest)
            found = parse_manifest(child.body, child.media_type)
            if not isinstance(found, ImageManifest):
                raise InvalidArgument("unsupported manifest format: an index inside an index")
            manifest = found
        else:
            manifest = parsed
        shown = str(reference) if reference.digest else reference.tag
        self.progress.message(shown, f"Pulling from {reference.path}")
        image_id = manifest.config.digest
        if await self.service.catalog.image(image_id) is None:
            await LayerPull(self, repository, reference, manifest, wanted).run()
        self.progress.message("", f"Digest: {fetched.digest}")
        return await self.add_references(reference, image_id, fetched.digest)

    async def add_references(self, reference: Reference, image_id: str,
                             manifest_digest: str) -> bool:
        """dockerd's reference updates after a pull; whether the tag or digest was new."""
        catalog = self.service.catalog
        digested = Reference(reference.domain, reference.path, digest=manifest_digest)
        async with self.service.lock:
            record = await catalog.image(image_id)
            if record is None:
                raise Conflict(f"image {image_id} was removed while it was being pulled")
            previous = await catalog.ref(reference)
            if reference.digest:
                if previous is not None and previous.image_id == image_id:
                    return False
                await catalog.put(RefRecord(str(reference), image_id))
                return True
            await catalog.put(RefRecord(str(digested), image_id))
            if previous is not None and previous.image_id == image_id:
                return False
            await self.service.add_reference(record, str(reference))
            return True


@dataclass
class _Layer:
    index: int
    blob: Descriptor
    diff_id: str
    chain: str
    present: bool
    staged: StagedLayer | None = None

    @property
    def progress_id(self) -> str:
        return short_id(self.blob.digest)


class LayerPull:
    """The config and missing layers of one image manifest, then its registration."""

    def __init__(self, puller: Puller, repository: Repository, reference: Reference,
                 manifest: ImageManifest, wanted: Platform | None) -> None:
        self.puller = puller
        self.service = puller.service
        self.progress = puller.progress
        self.repository = repository
        self.reference = reference
        self.manifest = manifest
        self.wanted = wanted
        self.downloads: dict[str, asyncio.Task[Path]] = {}
        self.files: list[Path] = []

    async def fetch_config(self) -> tuple[bytes, dict[str, Any]]:
        digest = self.manifest.config.digest
        body = await self.repository.blob_bytes(digest)
        if sha256_of(body) != digest:
            raise InvalidArgument(f"image config verification failed for digest {digest}")
        try:
            config = json.loads(body)
        except ValueError:
            raise InvalidArgument(f"invalid image config {digest}: not JSON") from None
        if not isinstance(config, dict):
            raise InvalidArgument(f"invalid image config {digest}: not a JSON object")
        if self.wanted is not None and not platform_matches(config_platform(config), self.wanted):
            actual = config_platform(config)
            raise InvalidArgument(
                f"image with reference {self.reference.familiar} was found but does not match "
                f"the specified platform: wanted {format_platform(self.wanted)}, actual: "
                f"{format_platform(actual)}"
            )
        return body, config

    async def plan(self, diff_ids: list[str]) -> list[_Layer]:
        known = await self.service.catalog.layers()
        layers: list[_Layer] = []
        missing_below = False
        for i, (blob, diff_id, chain) in enumerate(
            zip(self.manifest.layers, diff_ids, chain_ids(diff_ids), strict=True)
        ):
            record = known.get(chain)
            present = (not missing_below and record is not None
                       and self.service.layers.exists(chain) and bool(record.archive)
                       and self.service.blobs.has(record.archive))
            missing_below = missing_below or not present
            layers.append(_Layer(i, blob, diff_id, chain, present))
        return layers

    async def run(self) -> None:
        config_bytes, config = await self.fetch_config()
        diff_ids = _diff_ids(config)
        if len(diff_ids) != len(self.manifest.layers):
            raise InvalidArgument(ROOTFS_MISMATCH)
        layers = await self.plan(diff_ids)
        missing = [layer for layer in layers if not layer.present]
        for layer in layers:
            self.progress.update(layer.progress_id, "Already exists" if layer.present
                                 else "Pulling fs layer")
        limit = asyncio.Semaphore(self.puller.settings.max_concurrent_downloads)
        for n, layer in enumerate(missing):
            if layer.blob.digest not in self.downloads:
                if n >= self.puller.settings.max_concurrent_downloads:
                    self.progress.update(layer.progress_id, "Waiting")
                self.downloads[layer.blob.digest] = asyncio.create_task(
                    self.download(layer, limit))
        try:
            for layer in missing:
                path = await self.downloads[layer.blob.digest]
                layer.staged = await asyncio.to_thread(self.extract, layer, path)
                if layer.staged.unpacked.diff_id != layer.diff_id:
                    raise InvalidArgument(ROOTFS_MISMATCH)
                self.progress.update(layer.progress_id, "Pull complete")
            await self.register(layers, config_bytes, config)
        finally:
            for task in self.downloads.values():
                task.cancel()
            await asyncio.gather(*self.downloads.values(), return_exceptions=True)
            for layer in layers:
                if layer.staged is not None:
                    discard(layer.staged, self.service.layers)
            for path in self.files:
                path.unlink(missing_ok=True)

    async def download(self, layer: _Layer, limit: asyncio.Semaphore) -> Path:
        async with limit:
            path = self.service.blobs.tmp / f"pull-{uuid.uuid4().hex}"
            self.files.append(path)
            await download_blob(self.repository, layer.blob, path, self.progress,
                                self.puller.settings, layer.progress_id)
            return path

    def extract(self, layer: _Layer, path: Path) -> StagedLayer:
        """Unpack a downloaded blob (worker thread); the blob becomes the layer's archive."""
        staging = self.service.layers.staging()
        archive = self.service.blobs.tmp / uuid.uuid4().hex
        report: Callable[[int], None] = lambda count: self.progress.threadsafe(  # noqa: E731
            layer.progress_id, "Extracting", count, layer.blob.size)
        try:
            with open(path, "rb") as source:
                unpacked = unpack(CountingReader(source, report), str(staging / "diff"))  # type: ignore[arg-type]
            # Hard-link so that a layer used twice in one manifest can be staged twice.
            with contextlib.suppress(FileExistsError):
                archive.hardlink_to(path)
        except BaseException:
            self.service.layers.discard(staging)
            archive.unlink(missing_ok=True)
            raise
        return StagedLayer(staging, unpacked, archive, layer.blob.digest, layer.blob.size)

    async def register(self, layers: list[_Layer], config_bytes: bytes,
                       config: dict[str, Any]) -> None:
        service = self.service
        image_id = self.manifest.config.digest
        source = self.reference.name
        async with service.lock:
            created: ImageRecord | None = None
            try:
                records = []
                parent = ""
                for layer in layers:
                    if layer.staged is not None:
                        record = await register_layer(service, layer.staged, parent)
                        layer.staged = None  # register_layer consumed it
                    else:
                        found = await service.catalog.layer(layer.chain)
                        if found is None or not service.layers.exists(layer.chain):
                            raise NotFound(f"layer {layer.chain} was removed during the pull; "
                                           "pull again")
                        record = found
                    records.append(record)
                    parent = layer.chain
                    await metadata.remember(service.catalog.store, layer.diff_id,
                                            metadata.BlobSource(layer.blob.digest, layer.blob.size,
                                                                layer.blob.media_type, (source,)))
                if await service.catalog.image(image_id) is None:
                    service.blobs.write([config_bytes], expected=image_id)
                    created_at = config.get("created") or ""
                    created = ImageRecord(
                        id=image_id, layers=tuple(r.chain_id for r in records),
                        size=sum(r.size for r in records), created=created_at,
                        created_unix=unix_of(created_at), labels=labels_of(config),
                    )
                    await service.catalog.put(created)
            except BaseException:
                if created is not None:
                    await service.catalog.delete(created)
                await service.collect()
                raise


async def pull_image(service: ImageService, settings: RegistrySettings, progress: Progress,
                     options: PullOptions) -> None:
    try:
        await Puller(service, settings, progress).pull(options)
    except Unauthorized as exc:
        raise refused(exc) from None


def refused(exc: Unauthorized) -> Forbidden:
    """A registry's refusal of a pull or push, as a 403.

    Not a 401: the docker CLI answers a 401 to a pull or push by prompting for
    credentials on the terminal; dockerd, too, reports these as failures of
    the operation, not of the client's own authentication.
    """
    return Forbidden(exc.message)
