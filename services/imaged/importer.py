"""``docker import``: a one-layer image from a root filesystem archive.

The archive streams in as chunks, is unpacked (safely, see
:mod:`services.imaged.unpack`) into a staging directory in a worker thread,
and only then registered: the layer, the config blob, the image record and the
tag. A failure at any point removes what this import added, so a bad archive
leaves no layer, blob or record behind.

The config is what dockerd writes for an import (image_import.go): the
container config from ``--change``, ``created`` now, ``comment`` the message
(``Imported from -`` by default), one history entry. It is serialised once;
its sha256 is the image ID.
"""

from __future__ import annotations

import asyncio
import io
import json
import platform
from collections.abc import AsyncIterator
from typing import Any

from services.common.errors import InvalidArgument
from services.imaged.changes import apply_changes
from services.imaged.config_order import ordered_config
from services.imaged.layerimport import register_layer, unpack_keeping_archive
from services.imaged.models import ImportOptions
from services.imaged.records import ImageRecord
from services.imaged.reference import Reference, repo_tag
from services.imaged.service import ImageService, labels_of, now_rfc3339, unix_of

_GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
            "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


class ChunkReader(io.RawIOBase):
    """A blocking file over an async iterator of chunks, for a worker thread to read."""

    def __init__(self, chunks: AsyncIterator[bytes], loop: asyncio.AbstractEventLoop) -> None:
        self._chunks = chunks
        self._loop = loop
        self._pending = b""
        self._done = False

    def readable(self) -> bool:
        return True

    async def _next(self) -> bytes | None:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            return None

    def readinto(self, buffer: Any) -> int:
        while not self._pending and not self._done:
            chunk = asyncio.run_coroutine_threadsafe(self._next(), self._loop).result()
            if chunk is None:
                self._done = True
            else:
                self._pending = chunk
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


def parse_platform(text: str) -> tuple[str, str, str]:
    """``os[/arch[/variant]]``; the host's when empty."""
    host_arch = _GO_ARCH.get(platform.machine(), platform.machine())
    if not text:
        return "linux", host_arch, ""
    parts = text.lower().split("/")
    if len(parts) > 3 or not parts[0]:
        raise InvalidArgument(f"invalid platform {text!r}: expected os[/arch[/variant]]")
    if parts[0] != "linux":
        raise InvalidArgument(f"operating system is not supported: {parts[0]}")
    arch = parts[1] if len(parts) > 1 else host_arch
    return "linux", arch, parts[2] if len(parts) > 2 else ""


def image_config(
    container_config: dict[str, Any], diff_id: str, comment: str, created: str,
    os_name: str, arch: str, variant: str,
) -> bytes:
    """The image config document, in the field order dockerd marshals it."""
    document: dict[str, Any] = {"comment": comment, "created": created,
                                "config": ordered_config(container_config),
                                "architecture": arch}
    if variant:
        document["variant"] = variant
    document["os"] = os_name
    document["rootfs"] = {"type": "layers", "diff_ids": [diff_id]}
    document["history"] = [{"created": created, "comment": comment}]
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


async def import_image(
    service: ImageService, options: ImportOptions, chunks: AsyncIterator[bytes]
) -> str:
    """Import the archive in ``chunks``; return the new image's ID (``sha256:…``)."""
    # Everything the client can get wrong is checked before the body is read.
    target: Reference | None = repo_tag(options.repo, options.tag) if options.repo else None
    container_config = apply_changes(list(options.changes))
    os_name, arch, variant = parse_platform(options.platform)
    comment = options.message or "Imported from -"

    reader = io.BufferedReader(ChunkReader(chunks, asyncio.get_running_loop()))
    staged = await asyncio.to_thread(
        unpack_keeping_archive, reader, service.layers, service.blobs
    )
    unpacked = staged.unpacked
    async with service.lock:
        layer = await register_layer(service, staged, "")  # drops the staging copy
        chain = layer.chain_id
        record: ImageRecord | None = None
        try:
            created = now_rfc3339()
            config = image_config(container_config, unpacked.diff_id, comment, created,
                                  os_name, arch, variant)
            image_id = service.blobs.write_bytes(config)
            record = ImageRecord(
                id=image_id, layers=(chain,), size=layer.size, created=created,
                created_unix=unix_of(created), labels=labels_of(json.loads(config)),
            )
            await service.catalog.put(record)
            if target is not None:
                await service.add_reference(record, str(target))
        except BaseException:
            if record is not None:
                await service.catalog.delete(record)
            await service.collect()
            raise
    return image_id
