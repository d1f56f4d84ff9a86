"""Which registry blobs hold each layer: dockerd's v2 metadata, in etcd.

``distribution/<diff hex>`` lists, for one layer DiffID, the compressed blobs
known to carry it: digest, size, media type, and the repositories
(``127.0.0.1:5000/busybox``) known to have it. Push uses it to send a kept
blob as is, to skip blobs the target already has, and to mount across
repositories. Garbage collection (``ImageService.collect``) drops the records
of layers that are gone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from services.common.etcd_store import Store
from services.common.records import dump_record, load_record
from services.imaged.records import hex_of

DISTRIBUTION = "distribution/"


@dataclass(frozen=True)
class BlobSource:
    digest: str
    size: int
    media_type: str
    repositories: tuple[str, ...] = ()
    """Full repository names (``127.0.0.1:5000/busybox``) that have the blob."""


@dataclass(frozen=True)
class LayerBlobs:
    diff_id: str
    blobs: tuple[BlobSource, ...]

    @property
    def key(self) -> str:
        return DISTRIBUTION + hex_of(self.diff_id)

    def encode(self) -> bytes:
        return dump_record({"diff_id": self.diff_id, "blobs": [
            {"digest": b.digest, "size": b.size, "media_type": b.media_type,
             "repositories": list(b.repositories)} for b in self.blobs
        ]})

    @classmethod
    def decode(cls, value: bytes) -> LayerBlobs:
        d = load_record(value, "distribution")
        return cls(d["diff_id"], tuple(
            BlobSource(b["digest"], int(b["size"]), b["media_type"], tuple(b["repositories"]))
            for b in d["blobs"]
        ))


async def blobs_of(store: Store, diff_id: str) -> LayerBlobs:
    entry = await store.get(DISTRIBUTION + hex_of(diff_id))
    return LayerBlobs.decode(entry.value) if entry else LayerBlobs(diff_id, ())


async def remember(store: Store, diff_id: str, source: BlobSource) -> None:
    """Add ``source`` (or its repositories) to what is known of ``diff_id``'s blobs."""
    known = await blobs_of(store, diff_id)
    blobs = list(known.blobs)
    for i, blob in enumerate(blobs):
        if blob.digest == source.digest:
            repos = tuple(dict.fromkeys((*source.repositories, *blob.repositories)))
            blobs[i] = replace(blob, repositories=repos[:16])
            break
    else:
        blobs.append(source)
    await store.put(known.key, LayerBlobs(diff_id, tuple(blobs)).encode())


async def forget_layers_except(store: Store, diff_ids: set[str]) -> None:
    """Drop what is known of layers no longer stored (``diff_ids`` are those kept)."""
    for entry in await store.get_prefix(DISTRIBUTION):
        record = LayerBlobs.decode(entry.value)
        if record.diff_id not in diff_ids:
            await store.delete(record.key)
