"""``docker commit``: an image of a container's changes.

The container's overlay upper dir becomes one layer archive (whiteouts as
``.wh.`` entries, opaque directories as ``.wh..wh..opq``), unpacked and
registered like an imported layer on top of the container's image. The
config is the image's, with the container's Config (after ``changes``), the
new DiffID, one more history entry, the author and the comment; the parent is
the image. A failure removes what the commit added.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from services.common.errors import NotFound
from services.imaged.changes import apply_change
from services.imaged.config_order import ordered_config
from services.imaged.container_fs import write_layer_tar
from services.imaged.layerimport import register_layer, unpack_file_keeping_archive
from services.imaged.models import CommitOptions
from services.imaged.records import ImageRecord
from services.imaged.reference import Reference, repo_tag
from services.imaged.service import ImageService, labels_of, now_rfc3339, unix_of


def commit_config(
    parent: Mapping[str, Any], container_config: Mapping[str, Any], options: CommitOptions,
    diff_id: str, created: str,
) -> bytes:
    config = dict(container_config)
    for change in options.changes:
        for line in change.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                apply_change(config, line)
    document: dict[str, Any] = {
        key: value for key, value in parent.items()
        if key not in ("config", "container_config", "rootfs", "history", "created",
                       "comment", "author", "container", "parent")
    }
    if options.author:
        document["author"] = options.author
    document["config"] = ordered_config(config)
    document["container"] = options.container_id
    document["created"] = created
    if options.comment:
        document["comment"] = options.comment
    rootfs = parent.get("rootfs") or {}
    document["rootfs"] = {"type": "layers",
                          "diff_ids": [*(rootfs.get("diff_ids") or []), diff_id]}
    entry: dict[str, Any] = {"created": created}
    if options.author:
        entry["author"] = options.author
    if options.comment:
        entry["comment"] = options.comment
    document["history"] = [*(parent.get("history") or []), entry]
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


def _write_layer_file(upper: Path, target: Path) -> None:
    with open(target, "wb") as out:
        write_layer_tar(str(upper), out)


async def commit_container(service: ImageService, options: CommitOptions) -> str:
    """Commit the container's snapshot; return the new image's ID (``sha256:…``)."""
    target: Reference | None = repo_tag(options.repo, options.tag) if options.repo else None
    snapshot = await service.catalog.snapshot(options.container_id)
    if snapshot is None:
        raise NotFound(f"no snapshot for container {options.container_id}")
    image = await service.catalog.image(snapshot.image_id)
    if image is None:
        raise NotFound(f"image {snapshot.image_id} of the container was removed")
    parent_config = service.config_of(image.id)
    upper = service.snapshotter.snapshot_dir(options.container_id) / "diff"
    spool = service.blobs.tmp / f"commit-{uuid.uuid4().hex}"
    try:
        await asyncio.to_thread(_write_layer_file, upper, spool)
        staged = await asyncio.to_thread(
            unpack_file_keeping_archive, spool, service.layers, service.blobs
        )
    finally:
        spool.unlink(missing_ok=True)
    async with service.lock:
        parent_chain = image.layers[-1] if image.layers else ""
        layer = await register_layer(service, staged, parent_chain)
        record: ImageRecord | None = None
        try:
            created = now_rfc3339()
            config = commit_config(parent_config, options.config, options,
                                   staged.unpacked.diff_id, created)
            image_id = service.blobs.write_bytes(config)
            record = ImageRecord(
                id=image_id, layers=(*image.layers, layer.chain_id),
                size=image.size + layer.size, created=created, created_unix=unix_of(created),
                labels=labels_of(json.loads(config)), parent=image.id,
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
