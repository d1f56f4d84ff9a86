"""Reads behind ``docker ps`` and ``docker inspect``: records joined with execd's runtime state.

``docker ps`` costs prefix reads of the gateway's memory of the store (its
own ``containers/`` records, the mirror's ``runtime/`` and ``health/``) and one
image list, whatever the number of containers: no call per container. Decoded states and rendered
inspect bodies are kept while what they came from is unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from gateway.backends import Backends
from gateway.containers.decoded import DecodedEntries
from gateway.containers.health_rules import (
    HEALTH_PREFIX,
    HealthSettings,
    HealthState,
    for_new_run,
    health_key,
    status_suffix,
)
from gateway.containers.list_filters import ListOptions, Row, check_filters, select
from gateway.containers.records import ContainerRecord
from gateway.containers.sizes import writable_layer_size
from gateway.containers.state import status_text
from gateway.containers.views import inspect_json, port_list, summary_json
from gateway.responses import encode_json
from services.common.errors import DockyardError
from services.common.etcd_store import Entry
from services.execd.models import (
    RUNNING,
    RUNTIME_PREFIX,
    RuntimeState,
    decode_state,
    runtime_key,
)
from services.imaged.reference import parse_normalized

_HEX = re.compile(r"^(sha256:)?[0-9a-f]+$")


_RUNTIMES: DecodedEntries[RuntimeState] = DecodedEntries(decode_state)
_HEALTH: DecodedEntries[HealthState] = DecodedEntries(HealthState.decode)


async def runtime_state(backends: Backends, container_id: str) -> RuntimeState:
    """execd's record of the container; none yet means it was never started ("created")."""
    entry = await backends.reads.get(runtime_key(container_id))
    return _RUNTIMES.of(entry) if entry else RuntimeState(container_id=container_id)


@dataclass(frozen=True)
class _Rendered:
    """An inspect body and what it was rendered from."""

    record: ContainerRecord
    runtime_revision: int
    health_revision: int
    exec_ids: tuple[str, ...]
    body: bytes

    def same_source(self, other: _Rendered) -> bool:
        # The container store decodes a record once per revision: the same
        # object means the same stored record (comparing fields would cost more).
        return (self.record is other.record and self.runtime_revision == other.runtime_revision
                and self.health_revision == other.health_revision
                and self.exec_ids == other.exec_ids)


_RENDERED: dict[str, _Rendered] = {}
_RENDERED_LIMIT = 4096


async def inspect_container(backends: Backends, ref: str, *, size: bool) -> bytes:
    """``GET /containers/{id}/json`` encoded: polled often, re-rendered only on a change."""
    record = await backends.containers.get(ref)
    runtime_entry, health_entry = await asyncio.gather(
        backends.reads.get(runtime_key(record.id)), backends.reads.get(health_key(record.id)))
    runtime = (_RUNTIMES.of(runtime_entry) if runtime_entry
               else RuntimeState(container_id=record.id))
    exec_ids: tuple[str, ...] = ()
    if runtime.running and backends.processes is not None:
        with contextlib.suppress(DockyardError):
            exec_ids = tuple(await backends.processes.list_execs(record.id))
    key = _Rendered(record, runtime_entry.mod_revision if runtime_entry else 0,
                    health_entry.mod_revision if health_entry else 0, exec_ids, b"")
    cached = _RENDERED.get(record.id)
    if not size and cached is not None and cached.same_source(key):
        return cached.body
    sizes = None
    if size:
        rw = await writable_layer_size(record.rootfs)
        try:
            image_size = (await backends.images.inspect_image(record.image_id)).size
        except DockyardError:
            image_size = 0
        sizes = (rw, rw + image_size)
    body = inspect_json(record, runtime, sizes, list(exec_ids))
    health = _shown_health(record, runtime, health_entry)
    if health is not None:
        body["State"]["Health"] = health.json()
    encoded = encode_json(body)
    if not size:
        if len(_RENDERED) >= _RENDERED_LIMIT:
            _RENDERED.clear()
        _RENDERED[record.id] = replace(key, body=encoded)
    return encoded


def shown_image(record: ContainerRecord, references: Mapping[str, str]) -> str:
    """dockerd's refreshImage: the name as given while it still means the same image,
    otherwise the image ID (after the tag moved to another image)."""
    name = record.image_name
    if _HEX.match(name) and record.image_id.removeprefix("sha256:").startswith(
        name.removeprefix("sha256:")
    ):
        return name
    reference = _familiar_reference(name)
    if reference is None:
        return record.image_id
    return name if references.get(reference) == record.image_id else record.image_id


@functools.lru_cache(maxsize=4096)
def _familiar_reference(name: str) -> str | None:
    """``name`` with its default tag, as image listings spell it; None when unreadable."""
    try:
        return parse_normalized(name).with_default_tag().familiar
    except DockyardError:
        return None


@dataclass(frozen=True)
class _Listed:
    """What ``docker ps`` shows of containers, gathered once per request."""

    rows: list[Row]
    references: dict[str, str]
    image_sizes: dict[str, int]


async def _listed(backends: Backends, options: ListOptions) -> _Listed:
    check_filters(options.filters)
    entries, runtime_entries, images, health_entries = await asyncio.gather(
        backends.containers.list(),
        backends.reads.get_prefix(RUNTIME_PREFIX),
        backends.images.list_images(),
        backends.reads.get_prefix(HEALTH_PREFIX),
    )
    health_by_id = {str(e.key).rpartition("/")[2]: e for e in health_entries}
    runtimes = {}
    for entry in runtime_entries:
        state = _RUNTIMES.of(entry)
        runtimes[state.container_id] = state
    references: dict[str, str] = {}
    image_sizes: dict[str, int] = {}
    for image in images:
        image_sizes[image.id] = image.size
        for ref in (*image.repo_tags, *image.repo_digests):
            references[ref] = image.id
    rows = []
    for record in entries:
        runtime = runtimes.get(record.id) or RuntimeState(container_id=record.id)
        health = _shown_health(record, runtime, health_by_id.get(record.id))
        rows.append(Row(record, runtime, _published_ports(record),
                        health.status if health is not None else "none"))
    ancestors = await _ancestor_ids(backends, options.filters.get("ancestor", ()))
    return _Listed(select(rows, options, ancestors), references, image_sizes)


async def list_containers(backends: Backends, options: ListOptions) -> list[dict[str, Any]]:
    """``GET /containers/json`` rows as JSON values (``docker system df`` uses them too)."""
    listed = await _listed(backends, options)
    now = time.time()
    out = []
    for row in listed.rows:
        sizes = None
        if options.size:
            rw = await writable_layer_size(row.record.rootfs)
            sizes = (rw, rw + listed.image_sizes.get(row.record.image_id, 0))
        row_json = summary_json(row.record, row.runtime, shown_image(row.record, listed.references),
                                now, sizes)
        row_json["Status"] = _status(row, now)
        out.append(row_json)
    return out


async def list_containers_body(backends: Backends, options: ListOptions) -> bytes:
    """``GET /containers/json`` encoded; without sizes, from rows kept encoded between calls."""
    if options.size:
        return encode_json(await list_containers(backends, options))
    listed = await _listed(backends, options)
    now = time.time()
    encoded = [_encoded_row(row, shown_image(row.record, listed.references), now)
               for row in listed.rows]
    return b"[" + b",".join(encoded) + b"]\n"


def _status(row: Row, now: float) -> str:
    """The STATUS column: the one part of a row that changes with the clock."""
    text = status_text(row.runtime, now)
    if row.runtime.status == RUNNING and row.health != "none":
        text += status_suffix(row.health)
    return text


# ---- rows kept encoded ------------------------------------------------------------------

# Unguessable, so no label or command a user wrote can look like it.
_STATUS_MARK = f"\x00status-{secrets.token_hex(16)}\x00"
_STATUS_MARK_ENCODED = json.dumps(_STATUS_MARK).encode()
_KEPT_LIMIT = 16384


@dataclass(frozen=True)
class _EncodedRow:
    """A row's JSON around its Status, and what it was rendered from."""

    record: ContainerRecord
    runtime: RuntimeState
    image: str
    head: bytes
    tail: bytes


_ROWS: dict[str, _EncodedRow] = {}
_PORTS: dict[str, tuple[ContainerRecord, tuple[dict[str, Any], ...]]] = {}
_CHECKED: dict[str, tuple[ContainerRecord, bool]] = {}


def _encoded_row(row: Row, image: str, now: float) -> bytes:
    kept = _ROWS.get(row.record.id)
    # Records are decoded once per stored revision: the same object is the same record.
    if (kept is None or kept.record is not row.record or kept.runtime != row.runtime
            or kept.image != image):
        body = summary_json(row.record, row.runtime, image, now)
        body["Status"] = _STATUS_MARK
        head, _, tail = encode_json(body).rstrip(b"\n").partition(_STATUS_MARK_ENCODED)
        kept = _EncodedRow(row.record, row.runtime, image, head, tail)
        if len(_ROWS) >= _KEPT_LIMIT:
            _ROWS.clear()
        _ROWS[row.record.id] = kept
    return kept.head + json.dumps(_status(row, now), ensure_ascii=False).encode() + kept.tail


def _published_ports(record: ContainerRecord) -> tuple[dict[str, Any], ...]:
    kept = _PORTS.get(record.id)
    if kept is None or kept[0] is not record:
        kept = (record, tuple(port_list(record.network_settings)))
        if len(_PORTS) >= _KEPT_LIMIT:
            _PORTS.clear()
        _PORTS[record.id] = kept
    return kept[1]


def _shown_health(
    record: ContainerRecord, runtime: RuntimeState, entry: Entry | None
) -> HealthState | None:
    """``State.Health`` as dockerd shows it: ``starting`` from the moment a run with a
    health check begins (the monitor records it a moment later), the stored one otherwise."""
    stored = None
    if entry is not None:
        with contextlib.suppress(DockyardError):
            stored = _HEALTH.of(entry)
    if runtime.running and _health_checked(record):
        return for_new_run(stored, runtime.started_at)
    return stored


def _health_checked(record: ContainerRecord) -> bool:
    kept = _CHECKED.get(record.id)
    if kept is None or kept[0] is not record:
        kept = (record, HealthSettings.from_config(dict(record.config)) is not None)
        if len(_CHECKED) >= _KEPT_LIMIT:
            _CHECKED.clear()
        _CHECKED[record.id] = kept
    return kept[1]


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
