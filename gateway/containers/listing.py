"""Reads behind ``docker ps`` and ``docker inspect``: records joined with execd's runtime state.

``docker ps`` costs two prefix reads (``containers/`` and ``runtime/``) and one
image list, whatever the number of containers: no call per container.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Mapping
from typing import Any

from gateway.backends import Backends
from gateway.containers.health_monitor import read_health
from gateway.containers.health_rules import HEALTH_PREFIX, health_statuses, status_suffix
from gateway.containers.list_filters import ListOptions, Row, check_filters, select
from gateway.containers.records import ContainerRecord
from gateway.containers.sizes import writable_layer_size
from gateway.containers.views import inspect_json, port_list, summary_json
from services.common.errors import DockyardError
from services.execd.models import (
    RUNNING,
    RUNTIME_PREFIX,
    RuntimeState,
    decode_state,
    runtime_key,
)
from services.imaged.reference import parse_normalized

_HEX = re.compile(r"^(sha256:)?[0-9a-f]+$")


async def runtime_state(backends: Backends, container_id: str) -> RuntimeState:
    """execd's record of the container; none yet means it was never started ("created")."""
    entry = await backends.store.get(runtime_key(container_id))
    return decode_state(entry.value) if entry else RuntimeState(container_id=container_id)


async def inspect_container(backends: Backends, ref: str, *, size: bool) -> dict[str, Any]:
    record = await backends.containers.get(ref)
    runtime = await runtime_state(backends, record.id)
    sizes = None
    if size:
        rw = await writable_layer_size(record.rootfs)
        try:
            image_size = (await backends.images.inspect_image(record.image_id)).size
        except DockyardError:
            image_size = 0
        sizes = (rw, rw + image_size)
    exec_ids: list[str] = []
    if runtime.running and backends.processes is not None:
        with contextlib.suppress(DockyardError):
            exec_ids = await backends.processes.list_execs(record.id)
    body = inspect_json(record, runtime, sizes, exec_ids)
    health = await read_health(backends.store, record.id)
    if health is not None:
        body["State"]["Health"] = health.json()
    return body


def shown_image(record: ContainerRecord, references: Mapping[str, str]) -> str:
    """dockerd's refreshImage: the name as given while it still means the same image,
    otherwise the image ID (after the tag moved to another image)."""
    name = record.image_name
    if _HEX.match(name) and record.image_id.removeprefix("sha256:").startswith(
        name.removeprefix("sha256:")
    ):
        return name
    try:
        reference = parse_normalized(name).with_default_tag().familiar
    except DockyardError:
        return record.image_id
    return name if references.get(reference) == record.image_id else record.image_id


async def list_containers(backends: Backends, options: ListOptions) -> list[dict[str, Any]]:
    check_filters(options.filters)
    entries, runtime_entries, images, health_entries = await asyncio.gather(
        backends.containers.list(),
        backends.store.get_prefix(RUNTIME_PREFIX),
        backends.images.list_images(),
        backends.store.get_prefix(HEALTH_PREFIX),
    )
    health = health_statuses(health_entries)
    runtimes = {}
    for entry in runtime_entries:
        state = decode_state(entry.value)
        runtimes[state.container_id] = state
    references: dict[str, str] = {}
    image_sizes: dict[str, int] = {}
    for image in images:
        image_sizes[image.id] = image.size
        for ref in (*image.repo_tags, *image.repo_digests):
            references[ref] = image.id
    rows = [
        Row(record, runtimes.get(record.id) or RuntimeState(container_id=record.id),
            tuple(port_list(record.network_settings)), health.get(record.id, "none"))
        for record in entries
    ]
    ancestors = await _ancestor_ids(backends, options.filters.get("ancestor", ()))
    chosen = select(rows, options, ancestors)
    now = time.time()
    out = []
    for row in chosen:
        sizes = None
        if options.size:
            rw = await writable_layer_size(row.record.rootfs)
            sizes = (rw, rw + image_sizes.get(row.record.image_id, 0))
        row_json = summary_json(row.record, row.runtime, shown_image(row.record, references),
                                now, sizes)
        if row.runtime.status == RUNNING and row.health != "none":
            row_json["Status"] += status_suffix(row.health)
        out.append(row_json)
    return out


async def _ancestor_ids(backends: Backends, values: tuple[str, ...] | Any) -> set[str] | None:
    """Image IDs the ``ancestor`` filter names; unknown images match nothing, as dockerd."""
    if not values:
        return None
    ids: set[str] = set()
    for value in values:
        try:
            ids.add((await backends.images.inspect_image(value)).id)
        except DockyardError:
            continue
    return ids
