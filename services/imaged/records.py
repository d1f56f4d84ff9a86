"""What imaged keeps in etcd, and the JSON each record is stored as.

Keys (under ``/dockyard/v1/``); imaged is their only writer:

``images/<hex>``
    an image: its layer chain, size, creation time, labels (so listing needs no
    blob reads). The config itself is the blob ``sha256:<hex>``.
``refs/<name>:<tag>`` and ``refs/<name>@<digest>``
    a tag or digest reference (full name, ``docker.io/library/busybox:latest``)
    → image ID.
``layers/<chain hex>``
    an unpacked layer: DiffID, parent chain ID, size, its short ``l/`` link name.
``snapshots/<container id>``
    a container's writable overlay: its image and the layers it stacks, so
    neither is collected while the container exists.

Every value is JSON in the versioned envelope of :mod:`services.common.records`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from services.common.records import dump_record, load_record

IMAGES = "images/"
REFS = "refs/"
LAYERS = "layers/"
SNAPSHOTS = "snapshots/"




def hex_of(digest: str) -> str:
    return digest.partition(":")[2]


@dataclass(frozen=True)
class ImageRecord:
    id: str
    """``sha256:<hex>`` of the config blob."""
    layers: tuple[str, ...]
    """Chain IDs of the image's layers, bottom first."""
    size: int
    created: str
    """RFC 3339 time from the config ("" when the config has none)."""
    created_unix: int
    labels: Mapping[str, str] = field(default_factory=dict)
    parent: str = ""
    last_tag_time: str = ""

    @property
    def key(self) -> str:
        return IMAGES + hex_of(self.id)

    def encode(self) -> bytes:
        return dump_record({
            "id": self.id, "layers": list(self.layers), "size": self.size,
            "created": self.created, "created_unix": self.created_unix,
            "labels": dict(self.labels), "parent": self.parent,
            "last_tag_time": self.last_tag_time,
        })

    @classmethod
    def decode(cls, value: bytes) -> ImageRecord:
        d = load_record(value, "image")
        return cls(
            id=d["id"], layers=tuple(d["layers"]), size=int(d["size"]), created=d["created"],
            created_unix=int(d["created_unix"]), labels=dict(d.get("labels") or {}),
            parent=d.get("parent", ""), last_tag_time=d.get("last_tag_time", ""),
        )


@dataclass(frozen=True)
class RefRecord:
    reference: str
    """The full reference: ``docker.io/library/busybox:latest`` or ``…@sha256:…``."""
    image_id: str

    @property
    def key(self) -> str:
        return REFS + self.reference

    def encode(self) -> bytes:
        return dump_record({"image": self.image_id})

    @classmethod
    def decode(cls, key: str, value: bytes) -> RefRecord:
        return cls(reference=key[len(REFS) :], image_id=load_record(value, "reference")["image"])


@dataclass(frozen=True)
class LayerRecord:
    chain_id: str
    diff_id: str
    parent: str
    """Chain ID of the layer below ("" for a base layer)."""
    size: int
    link: str
    """The short name of ``overlay/l/<link>`` → this layer's ``diff`` directory."""
    archive: str = ""
    """Digest of the blob holding the layer archive as it arrived (compressed or not),
    kept so ``save`` can reproduce the exact bytes of the DiffID ("" if not kept)."""
    tar_size: int = 0
    """Length in bytes of the uncompressed layer tar (the DiffID's input)."""

    @property
    def key(self) -> str:
        return LAYERS + hex_of(self.chain_id)

    def encode(self) -> bytes:
        return dump_record({"chain_id": self.chain_id, "diff_id": self.diff_id,
                      "parent": self.parent, "size": self.size, "link": self.link,
                      "archive": self.archive, "tar_size": self.tar_size})

    @classmethod
    def decode(cls, value: bytes) -> LayerRecord:
        d = load_record(value, "layer")
        return cls(chain_id=d["chain_id"], diff_id=d["diff_id"], parent=d["parent"],
                   size=int(d["size"]), link=d["link"], archive=d.get("archive", ""),
                   tar_size=int(d.get("tar_size", 0)))


@dataclass(frozen=True)
class SnapshotRecord:
    container_id: str
    image_id: str
    layers: tuple[str, ...]
    """Chain IDs stacked under the container's upper dir, bottom first."""

    @property
    def key(self) -> str:
        return SNAPSHOTS + self.container_id

    def encode(self) -> bytes:
        return dump_record({"container": self.container_id, "image": self.image_id,
                      "layers": list(self.layers)})

    @classmethod
    def decode(cls, value: bytes) -> SnapshotRecord:
        d = load_record(value, "snapshot")
        return cls(container_id=d["container"], image_id=d["image"], layers=tuple(d["layers"]))
