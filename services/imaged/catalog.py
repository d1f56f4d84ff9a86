"""imaged's records in etcd: reading them, and resolving a user's name for an image.

Resolution follows dockerd's GetImage: a full ID (``sha256:…`` or 64 hex),
then a tag or digest reference (``latest`` added when neither is given), then
a unique ID prefix. An unknown name is ``No such image: busybox:latest``.
"""

from __future__ import annotations

from services.common.errors import NotFound
from services.common.etcd_store import Store
from services.imaged.records import (
    IMAGES,
    LAYERS,
    REFS,
    SNAPSHOTS,
    ImageRecord,
    LayerRecord,
    RefRecord,
    SnapshotRecord,
    hex_of,
)
from services.imaged.reference import ImageLookup, Reference, parse_lookup, parse_normalized


def no_such_image(lookup: ImageLookup) -> NotFound:
    shown = lookup.reference.with_default_tag().familiar if lookup.reference else lookup.text
    return NotFound(f"No such image: {shown}")


def parse_ref(full: str) -> Reference:
    """A stored full reference back into a :class:`Reference`."""
    return parse_normalized(full)


class Catalog:
    """Typed reads and writes of image, reference, layer and snapshot records."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def images(self) -> dict[str, ImageRecord]:
        records = (ImageRecord.decode(e.value) for e in await self.store.get_prefix(IMAGES))
        return {r.id: r for r in records}

    async def image(self, image_id: str) -> ImageRecord | None:
        entry = await self.store.get(IMAGES + hex_of(image_id))
        return ImageRecord.decode(entry.value) if entry else None

    async def refs(self) -> list[RefRecord]:
        return [RefRecord.decode(e.key, e.value) for e in await self.store.get_prefix(REFS)]

    async def refs_of(self, image_id: str) -> list[RefRecord]:
        return [r for r in await self.refs() if r.image_id == image_id]

    async def ref(self, reference: Reference) -> RefRecord | None:
        entry = await self.store.get(REFS + str(reference))
        return RefRecord.decode(entry.key, entry.value) if entry else None

    async def layers(self) -> dict[str, LayerRecord]:
        records = (LayerRecord.decode(e.value) for e in await self.store.get_prefix(LAYERS))
        return {r.chain_id: r for r in records}

    async def layer(self, chain: str) -> LayerRecord | None:
        entry = await self.store.get(LAYERS + hex_of(chain))
        return LayerRecord.decode(entry.value) if entry else None

    async def snapshots(self) -> list[SnapshotRecord]:
        return [SnapshotRecord.decode(e.value) for e in await self.store.get_prefix(SNAPSHOTS)]

    async def snapshot(self, container_id: str) -> SnapshotRecord | None:
        entry = await self.store.get(SNAPSHOTS + container_id)
        return SnapshotRecord.decode(entry.value) if entry else None

    async def put(self, record: ImageRecord | RefRecord | LayerRecord | SnapshotRecord) -> None:
        await self.store.put(record.key, record.encode())

    async def delete(self, record: ImageRecord | RefRecord | LayerRecord | SnapshotRecord) -> None:
        await self.store.delete(record.key)

    async def resolve(self, text: str) -> ImageRecord:
        """The image ``text`` names, as dockerd's GetImage finds it."""
        lookup = parse_lookup(text)
        if lookup.full_id:
            found = await self.image(lookup.full_id)
            if found is None:
                raise no_such_image(lookup)
            return found
        assert lookup.reference is not None
        ref = await self.ref(lookup.reference.with_default_tag())
        if ref is not None:
            found = await self.image(ref.image_id)
            if found is not None:
                return found
        if lookup.id_prefix:
            matches = [i for i in await self.images() if hex_of(i).startswith(lookup.id_prefix)]
            if len(matches) == 1:
                found = await self.image(matches[0])
                if found is not None:
                    return found
        raise no_such_image(lookup)
