"""Unpacking a layer while keeping its archive, and registering it: shared by import and load.

Why the archive is kept: ``docker save`` must write each layer as an
uncompressed tar whose sha256 is the layer's DiffID. The unpacked ``diff``
directory cannot give those bytes back: tar headers (PAX records, uid/gid
names, times, entry order, padding after the end-of-archive blocks) are lost
on extraction and overlay whiteouts replace ``.wh.`` entries. Docker keeps a
tar-split record for this; a tar-split record is smaller but breaks on
archives that name one path twice or that a later entry rewrites through a
symlink. We keep the archive itself, exactly as it arrived (compressed or
not), as a blob in the content store, named in the layer record; ``save``
decompresses it while streaming, which reproduces the DiffID bytes by
construction. Pulled layers arrive compressed, so for them this costs the
compressed size; a plain-tar ``import`` costs its tar size once more.

The archive blob is written to the content store's ``tmp/`` while the layer
unpacks (outside imaged's lock) and moved into place only by
:func:`register_layer`, under the lock: the garbage collector, which also runs
under the lock, never sees a blob that no record names yet.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from services.imaged.archive import CHUNK
from services.imaged.content import BlobStore
from services.imaged.layers import LayerStore, chain_id, short_link
from services.imaged.records import LayerRecord
from services.imaged.service import ImageService
from services.imaged.unpack import Unpacked, unpack


class _TeeReader(io.RawIOBase):
    """Reads ``inner``, hashing every byte and copying it into ``out`` when given."""

    def __init__(self, inner: BinaryIO, out: BinaryIO | None) -> None:
        self._inner = inner
        self._out = out
        self.hasher = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._inner.read(len(buffer))
        if not data:
            return 0
        n = len(data)
        buffer[:n] = data
        if self._out is not None:
            self._out.write(data)
        self.hasher.update(data)
        return n


@dataclass(frozen=True)
class StagedLayer:
    """A layer unpacked into a staging directory, its archive in the blob store's tmp/."""

    staging: Path
    unpacked: Unpacked
    archive_path: Path
    archive_digest: str
    archive_size: int


def discard(staged: StagedLayer, layers: LayerStore) -> None:
    layers.discard(staged.staging)
    staged.archive_path.unlink(missing_ok=True)


def unpack_keeping_archive(raw: BinaryIO, layers: LayerStore, blobs: BlobStore) -> StagedLayer:
    """Unpack ``raw`` (any compression) into a fresh staging dir; keep its bytes aside.

    Blocking: run it in a worker thread. On failure nothing is left behind.
    """
    staging = layers.staging()
    archive_path = blobs.tmp / uuid.uuid4().hex
    try:
        with open(archive_path, "wb") as out:
            tee = _TeeReader(raw, out)
            unpacked = unpack(io.BufferedReader(tee, CHUNK), str(staging / "diff"))
            while tee.read(CHUNK):  # bytes after the archive still belong to the blob
                pass
            out.flush()
            os.fsync(out.fileno())
            size = out.tell()
    except BaseException:
        layers.discard(staging)
        archive_path.unlink(missing_ok=True)
        raise
    return StagedLayer(staging, unpacked, archive_path, "sha256:" + tee.hasher.hexdigest(), size)


def unpack_file_keeping_archive(path: Path, layers: LayerStore, blobs: BlobStore) -> StagedLayer:
    """Like :func:`unpack_keeping_archive` for a spooled file, which is moved, not copied."""
    staging = layers.staging()
    target = blobs.tmp / uuid.uuid4().hex
    try:
        with open(path, "rb") as source:
            hashed = _TeeReader(source, None)
            unpacked = unpack(io.BufferedReader(hashed, CHUNK), str(staging / "diff"))
            while hashed.read(CHUNK):
                pass
        path.replace(target)
    except BaseException:
        layers.discard(staging)
        raise
    return StagedLayer(staging, unpacked, target, "sha256:" + hashed.hasher.hexdigest(),
                       target.stat().st_size)


async def register_layer(
    service: ImageService, staged: StagedLayer, parent_chain: str
) -> LayerRecord:
    """Make ``staged`` the layer ``parent_chain`` + its DiffID (call under the lock).

    A layer already present with the same chain ID is reused (unpacked once per
    chain ID) and the staging copy dropped; it gains the archive if it had none.
    """
    chain = chain_id(parent_chain, staged.unpacked.diff_id)
    existing = await service.catalog.layer(chain)
    try:
        archive = _commit_archive(service.blobs, staged)
        if existing is not None and service.layers.exists(chain):
            service.layers.discard(staged.staging)
            if existing.archive and service.blobs.has(existing.archive):
                return existing
            updated = LayerRecord(existing.chain_id, existing.diff_id, existing.parent,
                                  existing.size, existing.link, archive,
                                  staged.unpacked.tar_size)
            await service.catalog.put(updated)
            return updated
        record = LayerRecord(chain, staged.unpacked.diff_id, parent_chain, staged.unpacked.size,
                             short_link(chain), archive, staged.unpacked.tar_size)
        lower_links = await _lower_links(service, parent_chain)
        if service.layers.layer_dir(chain).exists():
            service.layers.remove(record)  # a directory without a record: a crash's leftover
        service.layers.commit(staged.staging, record, lower_links)
        await service.catalog.put(record)
        return record
    finally:
        discard(staged, service.layers)


def _commit_archive(blobs: BlobStore, staged: StagedLayer) -> str:
    target = blobs.path(staged.archive_digest)
    if not target.exists():
        staged.archive_path.chmod(0o444)
        with contextlib.suppress(FileNotFoundError):
            staged.archive_path.replace(target)
    return staged.archive_digest


async def _lower_links(service: ImageService, parent_chain: str) -> list[str]:
    """Short names of the layers below ``parent_chain`` included, top first."""
    links: list[str] = []
    layers = await service.catalog.layers() if parent_chain else {}
    current = parent_chain
    while current:
        record = layers.get(current)
        if record is None:
            break
        links.append(record.link)
        current = record.parent
    return links
