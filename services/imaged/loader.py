"""``docker load``: images from a save archive (current or older Docker format) or an OCI layout.

Formats read:

- Docker's (dockerd 1.10 and later, including 25+'s OCI-in-one): ``manifest.json``
  lists each image's config file, ``RepoTags`` and layer files; layers are tars,
  compressed or not (``<id>/layer.tar`` in the older layout, often a symlink to
  another image's copy; ``blobs/sha256/<hex>`` in the current one);
- a plain OCI image layout (``index.json``, no ``manifest.json``): descriptors
  are followed to manifests (through nested indexes, picking the host's
  platform), names come from the ``io.containerd.image.name`` annotation or a
  full reference in ``org.opencontainers.image.ref.name``.

Everything is checked before anything is registered: blobs named by digest
must hash to it, each layer's DiffID must be the config's, configs must be
Linux images. Layers are unpacked into staging directories outside the lock;
only then are layers, configs, images and tags registered together, under the
lock. A failure at any step leaves no image, tag, layer or blob behind.
The output lines are dockerd's: ``Loaded image: NAME:TAG`` per tag, and
``Loaded image ID: sha256:…`` for untagged images.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.common.errors import InvalidArgument
from services.imaged.importer import ChunkReader, parse_platform
from services.imaged.layerimport import (
    StagedLayer,
    discard,
    register_layer,
    unpack_file_keeping_archive,
    unpack_keeping_archive,
)
from services.imaged.layers import chain_id
from services.imaged.loadarchive import BadArchive, SpooledArchive
from services.imaged.records import ImageRecord, LayerRecord
from services.imaged.reference import Reference, parse_normalized
from services.imaged.service import ImageService, labels_of, unix_of

_BLOB_PATH = re.compile(r"^(?:\./)?blobs/sha256/([a-f0-9]{64})$")
_LEGACY_CONFIG = re.compile(r"^(?:\./)?([a-f0-9]{64})\.json$")
_MANIFEST_TYPES = frozenset({
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
})
_INDEX_TYPES = frozenset({
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
})
ANNOTATION_IMAGE_NAME = "io.containerd.image.name"
ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"


@dataclass
class LoadItem:
    """One image of the archive, checked: its config, layer files and tags."""

    image_id: str
    config: bytes
    diff_ids: list[str]
    layer_files: list[str]
    """Names in the archive of the layer blobs, bottom first."""
    layer_digests: list[str | None]
    """The digest each layer blob must have, when the archive names one."""
    tags: list[Reference] = field(default_factory=list)


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _check_config(config: bytes, where: str) -> list[str]:
    """The config's DiffIDs; the image must be a Linux one."""
    try:
        document = json.loads(config)
    except ValueError as exc:
        raise BadArchive(f"invalid archive: config {where} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BadArchive(f"invalid archive: config {where} is not a JSON object")
    os_name = document.get("os") or "linux"
    if os_name != "linux":
        raise InvalidArgument(f"cannot load {os_name} image on linux")
    diff_ids = (document.get("rootfs") or {}).get("diff_ids") or []
    if not isinstance(diff_ids, list) or not all(
        isinstance(d, str) and re.fullmatch(r"sha256:[a-f0-9]{64}", d) for d in diff_ids
    ):
        raise BadArchive(f"invalid archive: config {where} has malformed rootfs.diff_ids")
    return diff_ids


def _tag(text: str) -> Reference:
    reference = parse_normalized(text)
    if not reference.tag or reference.digest:
        raise InvalidArgument(f'invalid tag "{text}"')
    return reference


def _docker_items(archive: SpooledArchive) -> list[LoadItem]:
    """Images listed in Docker's ``manifest.json``."""
    manifest = archive.read_json("manifest.json")
    if manifest is None:
        raise BadArchive("invalid manifest, manifest cannot be null (but can be [])")
    if not isinstance(manifest, list) or not all(isinstance(m, dict) for m in manifest):
        raise BadArchive("invalid archive: manifest.json is not a list of images")
    items = []
    for entry in manifest:
        config_name = entry.get("Config")
        layers = entry.get("Layers") or []
        tags = entry.get("RepoTags") or []
        if not isinstance(config_name, str) or not isinstance(layers, list) or not all(
            isinstance(x, str) for x in [*layers, *tags]
        ):
            raise BadArchive("invalid archive: malformed entry in manifest.json")
        config = archive.read(config_name)
        image_id = _sha256(config)
        named = _BLOB_PATH.match(config_name) or _LEGACY_CONFIG.match(config_name)
        if named and named.group(1) != image_id[7:]:
            raise BadArchive(f"invalid archive: config {config_name} does not match its digest "
                             f"(its content hashes to {image_id})")
        diff_ids = _check_config(config, config_name)
        if len(layers) != len(diff_ids):
            raise BadArchive(f"invalid manifest, layers length mismatch: expected "
                             f"{len(layers)}, got {len(diff_ids)}")
        digests: list[str | None] = []
        for name in layers:
            match = _BLOB_PATH.match(name)
            digests.append("sha256:" + match.group(1) if match else None)
        items.append(LoadItem(image_id, config, diff_ids, list(layers), digests,
                              [_tag(t) for t in tags]))
    return items


def _blob(archive: SpooledArchive, descriptor: Any, what: str) -> tuple[str, bytes]:
    digest, size = _descriptor(descriptor, what)
    name = f"blobs/sha256/{digest[7:]}"
    data = archive.read(name)
    if _sha256(data) != digest or (size is not None and size != len(data)):
        raise BadArchive(f"invalid archive: {what} {digest} does not match its digest or size")
    return digest, data


def _descriptor(descriptor: Any, what: str) -> tuple[str, int | None]:
    if not isinstance(descriptor, dict):
        raise BadArchive(f"invalid archive: malformed {what} descriptor")
    digest = descriptor.get("digest")
    if not isinstance(digest, str) or not re.fullmatch(r"sha256:[a-f0-9]{64}", digest):
        raise BadArchive(f"invalid archive: {what} descriptor has an unsupported digest "
                         f"{digest!r}")
    size = descriptor.get("size")
    return digest, size if isinstance(size, int) else None


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise BadArchive(f"invalid archive: {what} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise BadArchive(f"invalid archive: {what} is not a JSON object")
    return document


def _pick_platform(manifests: list[Any]) -> Any:
    """The host platform's entry of a nested index (the first Linux one otherwise)."""
    _, arch, _ = parse_platform("")
    linux = [m for m in manifests if isinstance(m, dict)
             and (m.get("platform") or {}).get("os", "linux") == "linux"]
    for m in linux:
        if (m.get("platform") or {}).get("architecture") == arch:
            return m
    if not linux:
        raise InvalidArgument("no image for linux in the archive's index")
    return linux[0]


def _names(descriptor: dict[str, Any]) -> list[Reference]:
    annotations = descriptor.get("annotations") or {}
    full = annotations.get(ANNOTATION_IMAGE_NAME) or ""
    ref_name = annotations.get(ANNOTATION_REF_NAME) or ""
    if not full and any(c in ref_name for c in "/:"):
        full = ref_name  # a full reference; a bare tag names no repository
    if not full:
        return []
    reference = parse_normalized(full)
    return [reference.with_default_tag()] if not reference.digest else []


def _oci_items(archive: SpooledArchive) -> list[LoadItem]:
    """Images of a plain OCI image layout."""
    index = _json_object(archive.read("index.json"), "index.json")
    items: dict[str, LoadItem] = {}
    for top in index.get("manifests") or []:
        descriptor = top
        names = _names(top) if isinstance(top, dict) else []
        for _ in range(8):  # nested indexes, bounded
            if not isinstance(descriptor, dict) or descriptor.get("mediaType") not in _INDEX_TYPES:
                break
            _, data = _blob(archive, descriptor, "index")
            descriptor = _pick_platform(_json_object(data, "index").get("manifests") or [])
        if not isinstance(descriptor, dict) or descriptor.get("mediaType") not in _MANIFEST_TYPES:
            continue  # attestations and other artifacts: not images
        _, data = _blob(archive, descriptor, "manifest")
        manifest = _json_object(data, "manifest")
        image_id, config = _blob(archive, manifest.get("config"), "config")
        diff_ids = _check_config(config, image_id)
        layers = manifest.get("layers") or []
        if len(layers) != len(diff_ids):
            raise BadArchive(f"invalid manifest, layers length mismatch: expected "
                             f"{len(layers)}, got {len(diff_ids)}")
        digests: list[str | None] = [_descriptor(layer, "layer")[0] for layer in layers]
        item = items.setdefault(image_id, LoadItem(
            image_id, config, diff_ids, [f"blobs/sha256/{d[7:]}" for d in digests if d], digests,
        ))
        item.tags.extend(n for n in names if n not in item.tags)
    return list(items.values())


def read_items(archive: SpooledArchive) -> list[LoadItem]:
    if archive.has("manifest.json"):
        return _docker_items(archive)
    if archive.has("index.json"):
        return _oci_items(archive)
    raise BadArchive("invalid archive: it has neither manifest.json (docker save) nor "
                     "index.json (OCI image layout)")


# ---- unpacking ------------------------------------------------------------------------


@dataclass
class _Staging:
    """Layers unpacked by this load, by chain ID, until they are registered."""

    layers: dict[str, StagedLayer] = field(default_factory=dict)
    consumed: dict[Path, StagedLayer] = field(default_factory=dict)
    """Spooled files already moved into an archive blob-to-be (a file used twice)."""


def _unpack_layer(
    service: ImageService, archive: SpooledArchive, staging: _Staging, item: LoadItem, i: int,
) -> StagedLayer:
    path = archive.path(item.layer_files[i])
    earlier = staging.consumed.get(path)
    if earlier is None:
        staged = unpack_file_keeping_archive(path, service.layers, service.blobs)
        staging.consumed[path] = staged
    else:
        with open(earlier.archive_path, "rb") as source:
            staged = unpack_keeping_archive(source, service.layers, service.blobs)
    expected_blob = item.layer_digests[i]
    if expected_blob is not None and staged.archive_digest != expected_blob:
        discard(staged, service.layers)
        raise BadArchive(f"invalid archive: layer {item.layer_files[i]} does not match its "
                         f"digest (its content hashes to {staged.archive_digest})")
    if staged.unpacked.diff_id != item.diff_ids[i]:
        discard(staged, service.layers)
        raise BadArchive(f'invalid diffID for layer {i}: expected "{item.diff_ids[i]}", '
                         f'got "{staged.unpacked.diff_id}"')
    return staged


async def _stage_layers(
    service: ImageService, archive: SpooledArchive, items: list[LoadItem], staging: _Staging
) -> None:
    known = await service.catalog.layers()
    for item in items:
        parent = ""
        for i, diff_id in enumerate(item.diff_ids):
            chain = chain_id(parent, diff_id)
            existing = known.get(chain)
            have = existing is not None and service.layers.exists(chain) and bool(
                existing.archive) and service.blobs.has(existing.archive)
            if not have and chain not in staging.layers:
                staging.layers[chain] = await asyncio.to_thread(
                    _unpack_layer, service, archive, staging, item, i
                )
            parent = chain


# ---- registering ------------------------------------------------------------------------


async def _register(
    service: ImageService, items: list[LoadItem], staging: _Staging
) -> list[str]:
    """Layers, configs, images and tags, under the lock; the output lines."""
    lines: list[str] = []
    id_lines: list[str] = []
    created_images: list[ImageRecord] = []
    async with service.lock:
        try:
            for item in items:
                parent = ""
                stack: list[LayerRecord] = []
                for diff_id in item.diff_ids:
                    chain = chain_id(parent, diff_id)
                    staged = staging.layers.pop(chain, None)
                    layer = (await register_layer(service, staged, parent) if staged
                             else await service.catalog.layer(chain))
                    if layer is None:
                        raise InvalidArgument(f"layer {chain} vanished while loading")
                    stack.append(layer)
                    parent = chain
                record = await service.catalog.image(item.image_id)
                if record is None:
                    config = json.loads(item.config)
                    service.blobs.write([item.config], expected=item.image_id)
                    record = ImageRecord(
                        id=item.image_id, layers=tuple(layer.chain_id for layer in stack),
                        size=sum(layer.size for layer in stack),
                        created=config.get("created") or "",
                        created_unix=unix_of(config.get("created") or ""),
                        labels=labels_of(config),
                    )
                    await service.catalog.put(record)
                    created_images.append(record)
                id_lines.append(f"Loaded image ID: {item.image_id}\n")
                for tag in item.tags:
                    previous = await service.catalog.ref(tag)
                    if previous is not None and previous.image_id != item.image_id:
                        lines.append(f"The image {tag.familiar} already exists, renaming the "
                                     f"old one with ID {previous.image_id} to empty string\n")
                    await service.add_reference(record, str(tag))
                    record = await service.catalog.image(item.image_id) or record
                    lines.append(f"Loaded image: {tag.familiar}\n")
        except BaseException:
            for created in created_images:
                await service.catalog.delete(created)
            await service.collect()
            raise
    # dockerd prints the ID lines when the last image had no tag.
    if items and not items[-1].tags:
        lines.extend(id_lines)
    return lines


async def load_images(service: ImageService, chunks: AsyncIterator[bytes]) -> list[str]:
    """Load every image of the archive streamed as ``chunks``; return dockerd's output lines."""
    reader = io.BufferedReader(ChunkReader(chunks, asyncio.get_running_loop()))
    archive = await asyncio.to_thread(SpooledArchive.spool, reader, service.blobs.tmp)
    staging = _Staging()
    try:
        items = await asyncio.to_thread(read_items, archive)
        await _stage_layers(service, archive, items, staging)
        return await _register(service, items, staging)
    finally:
        for staged in staging.layers.values():
            discard(staged, service.layers)
        for staged in staging.consumed.values():
            staged.archive_path.unlink(missing_ok=True)
        archive.remove()
