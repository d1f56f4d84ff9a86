"""``docker save``: images as Docker's current tar format, streamed.

The archive holds what dockerd 25+ writes (image/tarexport/save.go)::

    blobs/sha256/<config hex>     the image config (its digest is the image ID)
    blobs/sha256/<diff id hex>    each layer as an uncompressed tar (digest = DiffID)
    blobs/sha256/<manifest hex>   an OCI image manifest per image
    index.json                    OCI index: one descriptor per tag (annotated with
                                  io.containerd.image.name / org.opencontainers.image.ref.name)
    manifest.json                 Docker's list: Config, RepoTags, Layers paths
    oci-layout                    {"imageLayoutVersion": "1.0.0"}
    repositories                  {"name": {"tag": "<top layer hex>"}} (only with tags)

Names are resolved and every layer archive opened before the first byte is
produced (so an unknown name is a plain error, and a concurrent ``rmi``
cannot pull a layer out from under a running save). The tar is generated
entry by entry; a layer's bytes come from its kept archive
(:mod:`services.imaged.layerimport`), decompressed on the fly and checked
against the DiffID as they pass. Nothing is held in memory but one chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import json
import tarfile
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from services.common.errors import Internal, InvalidArgument
from services.imaged.archive import CHUNK, open_uncompressed
from services.imaged.catalog import no_such_image, parse_ref
from services.imaged.records import ImageRecord, LayerRecord, hex_of
from services.imaged.reference import Reference, parse_lookup
from services.imaged.service import ImageService

OCI_LAYOUT = b'{"imageLayoutVersion": "1.0.0"}'
MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
ANNOTATION_IMAGE_NAME = "io.containerd.image.name"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"


def go_json(data: Any) -> bytes:
    """Compact JSON as Go's encoding/json writes it (map keys sorted by the caller's dicts)."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class SavedImage:
    record: ImageRecord
    config: bytes
    layers: list[LayerRecord]
    tags: list[Reference] = field(default_factory=list)


@dataclass
class SavePlan:
    """Everything the archive needs, with each layer's archive blob already open."""

    images: list[SavedImage]
    open_archives: dict[str, BinaryIO]
    """DiffID → the kept layer archive, opened while imaged's lock was held."""

    def close(self) -> None:
        for handle in self.open_archives.values():
            with contextlib.suppress(OSError):
                handle.close()


async def _add(
    service: ImageService, found: dict[str, SavedImage], record: ImageRecord,
    tag: Reference | None,
) -> None:
    image = found.get(record.id)
    if image is None:
        layers = await service.catalog.layers()
        missing = [c for c in record.layers if c not in layers]
        if missing:
            raise Internal(f"image {record.id}: layers missing from the store: {missing}")
        stack = [layers[c] for c in record.layers]
        image = SavedImage(record, service.blobs.read(record.id), stack)
        found[record.id] = image
    if tag is not None and tag.tag and not tag.digest and tag not in image.tags:
        image.tags.append(tag)


async def plan_save(service: ImageService, names: list[str]) -> SavePlan:
    """Resolve ``names`` as dockerd's save does and pin what the archive will read.

    A name with a tag or digest saves that image (tagged when a tag was given);
    a bare repository name saves every tag of the repository; an ID or ID
    prefix saves the image untagged.
    """
    if not names:
        raise InvalidArgument("no image names given")
    found: dict[str, SavedImage] = {}
    async with service.lock:
        refs = await service.catalog.refs()
        for name in names:
            lookup = parse_lookup(name)
            reference = lookup.reference
            if reference is not None and not reference.tag and not reference.digest:
                # Every reference of the repository; digest ones add the image untagged.
                named = [r for r in refs if parse_ref(r.reference).name == reference.name]
                if named:
                    for ref in sorted(named, key=lambda r: r.reference):
                        record = await service.catalog.image(ref.image_id)
                        if record is not None:
                            await _add(service, found, record, parse_ref(ref.reference))
                    continue
            record = await service.catalog.resolve(name)
            by_id = bool(lookup.full_id) or (
                bool(lookup.id_prefix) and reference is not None
                and await service.catalog.ref(reference.with_default_tag()) is None
            )
            tag = None if by_id or reference is None else reference.with_default_tag()
            await _add(service, found, record, tag)
        if not found:
            raise no_such_image(parse_lookup(names[0]))
        return _open_archives(service, list(found.values()))


def _open_archives(service: ImageService, images: list[SavedImage]) -> SavePlan:
    handles: dict[str, BinaryIO] = {}
    try:
        for image in images:
            if not image.layers:
                raise InvalidArgument(f"image {image.record.id} has no layers: empty export "
                                      "is not supported")
            for layer in image.layers:
                if layer.diff_id in handles:
                    continue
                if not layer.archive or not service.blobs.has(layer.archive):
                    raise Internal(
                        f"layer {layer.diff_id} of image {image.record.id} cannot be saved: "
                        "its original archive was not kept"
                    )
                handles[layer.diff_id] = open(service.blobs.path(layer.archive), "rb")  # noqa: SIM115
    except BaseException:
        for handle in handles.values():
            handle.close()
        raise
    return SavePlan(images, handles)


# ---- the archive ------------------------------------------------------------------------


def _platform(config: dict[str, Any]) -> dict[str, Any]:
    platform: dict[str, Any] = {"architecture": config.get("architecture", ""),
                                "os": config.get("os", "")}
    if config.get("os.version"):
        platform["os.version"] = config["os.version"]
    if config.get("variant"):
        platform["variant"] = config["variant"]
    return platform


def _manifest(image: SavedImage) -> bytes:
    config = json.loads(image.config)
    return go_json({
        "schemaVersion": 2,
        "mediaType": MEDIA_MANIFEST,
        "config": {"mediaType": MEDIA_CONFIG, "digest": image.record.id,
                   "size": len(image.config), "platform": _platform(config)},
        "layers": [{"mediaType": MEDIA_LAYER_TAR, "digest": layer.diff_id,
                    "size": layer.tar_size} for layer in image.layers],
    })


@dataclass(frozen=True)
class _Blob:
    hex: str
    data: bytes | None
    """Small blobs (configs, manifests) in memory; None for a layer (streamed)."""
    layer: LayerRecord | None
    mtime: int


def _layout(plan: SavePlan) -> tuple[list[_Blob], dict[str, bytes]]:
    """The blobs (sorted by name, as dockerd's directory walk emits them) and the top files."""
    blobs: dict[str, _Blob] = {}
    index: list[dict[str, Any]] = []
    manifest: list[dict[str, Any]] = []
    repositories: dict[str, dict[str, str]] = {}
    for image in plan.images:
        created = image.record.created_unix
        blobs[hex_of(image.record.id)] = _Blob(hex_of(image.record.id), image.config, None,
                                               created)
        for layer in image.layers:
            blobs.setdefault(hex_of(layer.diff_id),
                             _Blob(hex_of(layer.diff_id), None, layer, created))
        data = _manifest(image)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[hex_of(digest)] = _Blob(hex_of(digest), data, None, 0)
        descriptor = {"mediaType": MEDIA_MANIFEST, "digest": digest, "size": len(data)}
        platform = _platform(json.loads(image.config))
        for tag in image.tags:
            index.append({**descriptor, "annotations": {ANNOTATION_IMAGE_NAME: str(tag),
                                                        ANNOTATION_REF_NAME: tag.tag},
                          "platform": platform})
            repositories.setdefault(tag.familiar_name, {})[tag.tag] = hex_of(
                image.layers[-1].diff_id)
        if not image.tags:
            index.append({**descriptor, "platform": platform})
        manifest.append({
            "Config": f"blobs/sha256/{hex_of(image.record.id)}",
            "RepoTags": [t.familiar for t in image.tags] or None,
            "Layers": [f"blobs/sha256/{hex_of(layer.diff_id)}" for layer in image.layers],
        })
    files = {
        "index.json": go_json({"schemaVersion": 2, "mediaType": MEDIA_INDEX,
                               "manifests": index}),
        "manifest.json": go_json(manifest) + b"\n",
        "oci-layout": OCI_LAYOUT,
    }
    if repositories:
        files["repositories"] = go_json(repositories) + b"\n"
    return sorted(blobs.values(), key=lambda b: b.hex), files


def _header(name: str, size: int, mtime: int, directory: bool = False) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = mtime
    info.mode = 0o755 if directory else 0o644
    info.type = tarfile.DIRTYPE if directory else tarfile.REGTYPE
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


def _padding(size: int) -> bytes:
    remainder = size % tarfile.BLOCKSIZE
    return b"\0" * (tarfile.BLOCKSIZE - remainder) if remainder else b""


def _layer_bytes(layer: LayerRecord, handle: BinaryIO) -> Iterator[bytes]:
    """The layer's uncompressed tar, checked against its DiffID and size as it streams."""
    hasher = hashlib.sha256()
    count = 0
    stream = open_uncompressed(handle)
    while chunk := stream.read(CHUNK):
        hasher.update(chunk)
        count += len(chunk)
        if count > layer.tar_size:
            break
        yield chunk
    if count != layer.tar_size or "sha256:" + hasher.hexdigest() != layer.diff_id:
        raise Internal(f"layer {layer.diff_id}: the kept archive does not reproduce its DiffID")


def archive_pieces(plan: SavePlan) -> Iterator[bytes]:
    """The tar archive of ``plan``, piece by piece (blocking reads: run in a thread)."""
    blobs, files = _layout(plan)
    yield _header("blobs/", 0, 0, directory=True)
    yield _header("blobs/sha256/", 0, 0, directory=True)
    for blob in blobs:
        name = f"blobs/sha256/{blob.hex}"
        if blob.data is not None:
            yield _header(name, len(blob.data), blob.mtime) + blob.data + _padding(len(blob.data))
            continue
        assert blob.layer is not None
        yield _header(name, blob.layer.tar_size, blob.mtime)
        yield from _layer_bytes(blob.layer, plan.open_archives[blob.layer.diff_id])
        yield _padding(blob.layer.tar_size)
    for name, data in files.items():
        yield _header(name, len(data), 0) + data + _padding(len(data))
    yield b"\0" * (2 * tarfile.BLOCKSIZE)


def archive_chunks(plan: SavePlan, chunk_size: int = CHUNK) -> Generator[bytes, None, None]:
    """:func:`archive_pieces` regrouped into chunks of about ``chunk_size`` bytes."""
    buffer = io.BytesIO()
    for piece in archive_pieces(plan):
        buffer.write(piece)
        if buffer.tell() >= chunk_size:
            yield buffer.getvalue()
            buffer = io.BytesIO()
    if buffer.tell():
        yield buffer.getvalue()



async def stream_archive(plan: SavePlan) -> AsyncIterator[bytes]:
    """The archive's chunks, each produced in a worker thread; the plan is closed at the end."""
    chunks = archive_chunks(plan)
    try:
        while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
            yield chunk
    finally:
        chunks.close()
        plan.close()
