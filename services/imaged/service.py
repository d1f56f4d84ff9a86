"""imaged's local implementation: images, tags, layers and snapshots over etcd and disk.

The gRPC servicer is a thin shell over :class:`ImageService`. Every change to
records or directories happens under one lock (imaged is the only writer of
its keys), so reference counts can be computed from the records instead of
being stored: a layer is kept while an image or a snapshot stacks it, a blob
while an image is named by it (:meth:`ImageService.collect`). Slow work
(unpacking) runs before the lock is taken.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from services.common.errors import Conflict, Internal, InvalidArgument, NotFound
from services.common.etcd_store import Store
from services.imaged import filters as flt
from services.imaged.catalog import Catalog, parse_ref
from services.imaged.content import BlobStore
from services.imaged.layers import LayerStore
from services.imaged.models import (
    Filters,
    HistoryEntry,
    ImageDetails,
    ImageSummary,
    SnapshotChange,
)
from services.imaged.records import ImageRecord, LayerRecord, RefRecord, SnapshotRecord
from services.imaged.reference import parse_lookup, repo_tag
from services.imaged.registry import metadata as distribution
from services.imaged.snapshots import Snapshotter, check_container_id

log = logging.getLogger(__name__)


def now_rfc3339() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond:06d}000Z"


def unix_of(created: str) -> int:
    """Seconds since the epoch of an RFC 3339 time with up to nanosecond digits."""
    if not created:
        return 0
    # Python parses at most microseconds: drop the fraction, seconds are all we need.
    text = re.sub(r"\.\d+", "", created.replace("Z", "+00:00"), count=1)
    try:
        return int(datetime.fromisoformat(text).timestamp())
    except ValueError:
        return 0


class ImageService:
    """Images, references, layers and snapshots of one data-root."""

    def __init__(self, store: Store, data_root: Path) -> None:
        self.catalog = Catalog(store)
        self.blobs = BlobStore(data_root / "image")
        self.layers = LayerStore(data_root / "overlay")
        self.snapshotter = Snapshotter(self.layers)
        self.lock = asyncio.Lock()

    async def setup(self) -> None:
        """Prepare the directories, drop half-written files, collect what nothing uses."""
        self.blobs.setup()
        self.layers.setup()
        async with self.lock:
            await self.collect()

    # ---- reading --------------------------------------------------------------------

    def config_of(self, image_id: str) -> dict[str, Any]:
        data = json.loads(self.blobs.read(image_id))
        if not isinstance(data, dict):
            raise Internal(f"image config {image_id} is not a JSON object")
        return data

    async def _refs_by_image(self) -> dict[str, list[RefRecord]]:
        by_image: dict[str, list[RefRecord]] = {}
        for ref in await self.catalog.refs():
            by_image.setdefault(ref.image_id, []).append(ref)
        return by_image

    @staticmethod
    def _familiar(refs: list[RefRecord]) -> tuple[tuple[str, ...], tuple[str, ...]]:
        tags: list[str] = []
        digests: list[str] = []
        for ref in refs:
            parsed = parse_ref(ref.reference)
            (digests if parsed.digest else tags).append(parsed.familiar)
        return tuple(sorted(tags)), tuple(sorted(digests))

    async def list_images(self, filters: Filters, all_images: bool = False) -> list[ImageSummary]:
        """``GET /images/json``: newest first, as dockerd sorts them."""
        flt.check_filters(filters, flt.LIST_FILTERS)
        dangling_only = flt.bool_filter(filters, "dangling", False)
        images = await self.catalog.images()
        refs = await self._refs_by_image()
        before = await self._bound(filters, "before")
        since = await self._bound(filters, "since")
        until = flt.parse_timestamp(filters["until"][0]) if filters.get("until") else None
        parents = {record.parent for record in images.values() if record.parent}
        summaries = []
        for record in images.values():
            if before is not None and record.created_unix >= before:
                continue
            if since is not None and record.created_unix <= since:
                continue
            if until is not None and record.created_unix > until:
                continue
            if not flt.labels_match(filters, record.labels):
                continue
            own = refs.get(record.id, [])
            if filters.get("reference"):
                own = [r for r in own if any(flt.reference_matches(p, parse_ref(r.reference))
                                             for p in filters["reference"])]
                if not own:
                    continue
            tags, digests = self._familiar(own)
            if not tags and not digests:
                if not all_images and record.id in parents:
                    continue  # an intermediate image: shown with -a only
                if "dangling" in filters and not dangling_only:
                    continue
            elif dangling_only and tags:
                continue
            summaries.append(ImageSummary(
                id=record.id, parent_id=record.parent, repo_tags=tags, repo_digests=digests,
                created=record.created_unix, size=record.size, labels=record.labels,
            ))
        return sorted(summaries, key=lambda s: (s.created, s.id), reverse=True)

    async def _bound(self, filters: Filters, name: str) -> int | None:
        values = filters.get(name, ())
        if not values:
            return None
        return (await self.catalog.resolve(values[-1])).created_unix

    async def inspect(self, name: str) -> ImageDetails:
        record = await self.catalog.resolve(name)
        tags, digests = self._familiar(await self.catalog.refs_of(record.id))
        return ImageDetails(
            id=record.id, repo_tags=tags, repo_digests=digests, parent=record.parent,
            size=record.size, config=self.config_of(record.id),
            graph_driver=self.layers.graph_driver_data(list(record.layers)),
            last_tag_time=record.last_tag_time,
        )

    async def history(self, name: str) -> list[HistoryEntry]:
        """``docker history``: one entry per history item, newest first."""
        record = await self.catalog.resolve(name)
        config = self.config_of(record.id)
        layers = await self.catalog.layers()
        tags, _ = self._familiar(await self.catalog.refs_of(record.id))
        entries: list[HistoryEntry] = []
        layer_index = 0
        for item in config.get("history") or []:
            size = 0
            if not item.get("empty_layer") and layer_index < len(record.layers):
                layer = layers.get(record.layers[layer_index])
                size = layer.size if layer else 0
                layer_index += 1
            entries.append(HistoryEntry(
                id="<missing>", created=unix_of(item.get("created", "")),
                created_by=item.get("created_by", ""), tags=(), size=size,
                comment=item.get("comment", ""),
            ))
        entries.reverse()
        if entries:
            top = entries[0]
            entries[0] = HistoryEntry(record.id, top.created, top.created_by, tags, top.size,
                                      top.comment)
        return entries

    # ---- tagging ----------------------------------------------------------------------

    async def tag(self, source: str, repo: str, tag: str) -> None:
        """``docker tag``: point ``repo:tag`` at the image ``source`` names."""
        reference = repo_tag(repo, tag)
        if reference.familiar_name == "sha256":
            raise InvalidArgument(
                "refusing to create an ambiguous tag using digest algorithm as name"
            )
        async with self.lock:
            record = await self.catalog.resolve(source)
            await self.add_reference(record, str(reference))

    async def add_reference(self, record: ImageRecord, reference: str) -> None:
        """Write a tag (under the lock); the image's LastTagTime moves to now."""
        await self.catalog.put(RefRecord(reference, record.id))
        await self.catalog.put(ImageRecord(
            id=record.id, layers=record.layers, size=record.size, created=record.created,
            created_unix=record.created_unix, labels=record.labels, parent=record.parent,
            last_tag_time=now_rfc3339(),
        ))

    # ---- garbage collection ------------------------------------------------------------

    async def collect(self) -> list[LayerRecord]:
        """Remove layers and blobs nothing refers to (call under the lock); return the layers."""
        images = await self.catalog.images()
        snapshots = await self.catalog.snapshots()
        wanted_layers = {c for r in images.values() for c in r.layers}
        wanted_layers |= {c for s in snapshots for c in s.layers}
        removed = []
        wanted_blobs = set(images)
        for chain, layer in (await self.catalog.layers()).items():
            if chain not in wanted_layers:
                await self.catalog.delete(layer)
                self.layers.remove(layer)
                removed.append(layer)
            elif layer.archive:
                wanted_blobs.add(layer.archive)  # kept for save (see layerimport)
        for digest in self.blobs.digests():
            if digest not in wanted_blobs:
                self.blobs.delete(digest)
        for ref in await self.catalog.refs():
            if ref.image_id not in images:
                await self.catalog.delete(ref)
        kept = {layer.diff_id for layer in (await self.catalog.layers()).values()}
        await distribution.forget_layers_except(self.catalog.store, kept)
        return removed

    # ---- snapshots ------------------------------------------------------------------------

    async def _stack(self, chains: tuple[str, ...]) -> list[LayerRecord]:
        # Only the image's own layers, read at once: not every layer of the store.
        found = await asyncio.gather(*(self.catalog.layer(c) for c in chains))
        missing = [c for c, layer in zip(chains, found, strict=True) if layer is None]
        if missing:
            raise Internal(f"layers missing from the store: {', '.join(missing)}")
        return [layer for layer in found if layer is not None]

    async def prepare_snapshot(self, container_id: str, image: str) -> Path:
        """Mount a fresh writable root filesystem for ``container_id`` over ``image``."""
        check_container_id(container_id)
        async with self.lock:
            # Read at once: many creates at a time queue on this lock.
            existing, record = await asyncio.gather(self.catalog.snapshot(container_id),
                                                    self.catalog.resolve(image))
            if existing is not None:
                raise Conflict(f"snapshot for container {container_id} already exists")
            stack = await self._stack(record.layers)
            snapshot = SnapshotRecord(container_id, record.id, record.layers)
            # Record first: a crash between the two leaves a record that remove cleans up,
            # never a mounted directory nothing knows about.
            await self.catalog.put(snapshot)
        # The mount itself runs outside the lock: the record already keeps the
        # layers from being collected, and many starts at once need not queue.
        try:
            return await asyncio.to_thread(self.snapshotter.prepare, container_id, stack)
        except BaseException:
            await self.catalog.delete(snapshot)
            raise

    async def remove_snapshot(self, container_id: str) -> None:
        check_container_id(container_id)
        async with self.lock:
            on_disk = self.snapshotter.snapshot_dir(container_id).exists()
            # The directory goes while the record is read, and the record while
            # its image is looked up: every etcd round trip here is on the path
            # of each docker rm. The record goes last, so a failure on the way
            # leaves it for a retry to find.
            snapshot, _ = await asyncio.gather(
                self.catalog.snapshot(container_id),
                asyncio.to_thread(self.snapshotter.remove, container_id) if on_disk
                else asyncio.sleep(0),
            )
            if snapshot is None and not on_disk:
                raise NotFound(f"no snapshot for container {container_id}")
            if snapshot is None:
                await self.collect()
                return
            _, image = await asyncio.gather(self.catalog.delete(snapshot),
                                            self.catalog.image(snapshot.image_id))
            # Only a snapshot whose image was removed meanwhile can have kept
            # layers alive; collecting after every removal reads the whole
            # catalog each time (quadratic when many containers go at once).
            if image is None:
                await self.collect()

    async def snapshot_changes(self, container_id: str) -> list[SnapshotChange]:
        check_container_id(container_id)
        snapshot = await self.catalog.snapshot(container_id)
        if snapshot is None:
            raise NotFound(f"no snapshot for container {container_id}")
        stack = await self._stack(snapshot.layers)
        return await asyncio.to_thread(self.snapshotter.changes, container_id, stack)

    async def users_of(self, image_id: str) -> list[str]:
        """Containers whose snapshot stacks ``image_id`` (the hook for rmi's conflicts)."""
        return sorted(s.container_id for s in await self.catalog.snapshots()
                      if s.image_id == image_id)


def lookup_is_id(text: str, image_id: str) -> bool:
    """dockerd's isImageIDPrefix: whether the user named the image by (a prefix of) its ID."""
    lookup = parse_lookup(text)
    if lookup.full_id:
        return lookup.full_id == image_id
    hex_part = image_id.partition(":")[2]
    return bool(lookup.id_prefix) and hex_part.startswith(lookup.id_prefix)


def labels_of(config: Mapping[str, Any]) -> dict[str, str]:
    labels = (config.get("config") or {}).get("Labels") or {}
    return {str(k): str(v) for k, v in labels.items()}
