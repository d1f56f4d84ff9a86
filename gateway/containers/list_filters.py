"""``GET /containers/json`` selection: all, limit and filters, with dockerd's semantics.

Containers are walked newest first. ``name`` and ``id`` are regular
expressions (``name=^/web$``), ``id`` values first pick containers by unique
ID prefix; ``label`` is ``key`` or ``key=value``; a ``status`` filter and a
``limit`` imply ``all``; ``before``/``since`` cut the walk at a container.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gateway.containers.records import ContainerRecord
from gateway.containers.store import no_such_container
from gateway.containers.times import parse_rfc3339
from services.common.errors import InvalidArgument
from services.execd.models import RuntimeState

ACCEPTED = frozenset({
    "ancestor", "before", "exited", "id", "isolation", "label", "name", "status", "health",
    "since", "volume", "network", "is-task", "publish", "expose",
})
STATES = frozenset({"created", "running", "paused", "restarting", "removing", "exited", "dead"})
HEALTH = frozenset({"starting", "healthy", "unhealthy", "none"})
TASK_LABEL = "com.docker.swarm.task"

Filters = Mapping[str, Sequence[str]]


@dataclass(frozen=True)
class Row:
    """One container as the list walks it: its record and its process state."""

    record: ContainerRecord
    runtime: RuntimeState
    ports: tuple[Mapping[str, Any], ...] = ()
    health: str = "none"
    """``State.Health.Status``; "none" for a container never checked (dockerd's nil Health)."""


@dataclass(frozen=True)
class ListOptions:
    all: bool = False
    limit: int = -1
    size: bool = False
    filters: Filters = field(default_factory=dict)


def _search(patterns: Sequence[str], text: str) -> bool:
    """filters.Match: an exact match, or any value as an (unanchored) regular expression."""
    for pattern in patterns:
        if pattern == text:
            return True
        try:
            if re.search(pattern, text):
                return True
        except re.error:
            continue
    return False


def _labels_match(wanted: Sequence[str], labels: Mapping[str, str]) -> bool:
    for item in wanted:
        key, has_value, value = item.partition("=")
        if key not in labels or (has_value and labels[key] != value):
            return False
    return True


def _port_set(key: str, values: Sequence[str]) -> set[tuple[int, str]]:
    ports: set[tuple[int, str]] = set()
    for value in values:
        if ":" in value:
            raise InvalidArgument(f"filter for '{key}' should not contain ':': {value}")
        number, _, proto = value.partition("/")
        low, dash, high = number.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise InvalidArgument(
                f"error while looking up for {key} {value}: invalid range format for --{key}"
            )
        for port in range(int(low), int(high if dash else low) + 1):
            ports.add((port, proto or "tcp"))
    return ports


def check_filters(filters: Filters) -> None:
    """Refuse unknown filter names and malformed values as dockerd does (400)."""
    for name in filters:
        if name not in ACCEPTED:
            raise InvalidArgument(f"invalid filter '{name}'")
    for value in filters.get("exited", ()):
        try:
            int(value)
        except ValueError:
            raise InvalidArgument(f'strconv.Atoi: parsing "{value}": invalid syntax') from None
    for value in filters.get("status", ()):
        if value not in STATES:
            raise InvalidArgument(f"invalid filter 'status={value}'")
    task = filters.get("is-task", ())
    if task and not set(task) <= {"true", "false"}:
        raise InvalidArgument(f"invalid filter 'is-task={','.join(task)}'")
    for value in filters.get("health", ()):
        if value not in HEALTH:
            raise InvalidArgument(f"Unrecognised filter value for health: {value}")
    _port_set("publish", filters.get("publish", ()))
    _port_set("expose", filters.get("expose", ()))


def _id_or_name(rows: Sequence[Row], ref: str) -> str:
    for row in rows:
        if row.record.id == ref:
            return row.record.id
    found = [r.record.id for r in rows if r.record.short_name == ref.removeprefix("/")]
    if len(found) == 1:
        return found[0]
    raise no_such_container(ref)


def select(rows: Iterable[Row], options: ListOptions, ancestor_ids: set[str] | None) -> list[Row]:
    """The rows ``docker ps`` shows, newest first. ``ancestor_ids``: image IDs the
    ``ancestor`` filter resolved to (None when it is not used)."""
    filters = options.filters
    check_filters(filters)
    ordered = sorted(rows, key=lambda r: parse_rfc3339(r.record.created) or 0.0, reverse=True)
    show_all = options.all or bool(filters.get("status"))
    before = {_id_or_name(ordered, v) for v in filters.get("before", ())}
    since = {_id_or_name(ordered, v) for v in filters.get("since", ())}
    candidates = _name_id_candidates(ordered, filters)
    exited = {int(v) for v in filters.get("exited", ())}
    publish = _port_set("publish", filters.get("publish", ()))
    expose = _port_set("expose", filters.get("expose", ()))
    task = filters.get("is-task", ())
    chosen: list[Row] = []
    waiting_for_before = bool(before)
    for row in ordered:
        record, runtime = row.record, row.runtime
        if waiting_for_before:
            if record.id in before:
                waiting_for_before = False
            continue
        if record.id in since:
            break
        if candidates is not None and record.id not in candidates:
            continue
        if not runtime.running and not show_all and options.limit <= 0:
            continue
        if "name" in filters and not (
            _search(filters["name"], record.name) or _search(filters["name"], record.short_name)
        ):
            continue
        if "id" in filters and not _search(filters["id"], record.id):
            continue
        labels = dict(record.config.get("Labels") or {})
        if task and (task[0] == "true") != (TASK_LABEL in labels):
            continue
        if not _labels_match(filters.get("label", ()), labels):
            continue
        if options.limit > 0 and len(chosen) == options.limit:
            break
        if exited and not (
            runtime.exit_code in exited and not runtime.running
            and runtime.started_at[:4] != "0001"
        ):
            continue
        if "status" in filters and not _search(filters["status"], runtime.status):
            continue
        if "health" in filters and row.health not in filters["health"]:
            continue
        if "volume" in filters and not _has_volume(record, filters["volume"]):
            continue
        if ancestor_ids is not None and record.image_id not in ancestor_ids:
            continue
        if "network" in filters and not _on_network(record, filters["network"]):
            continue
        if (publish or expose) and not _port_match(row, publish, expose):
            continue
        chosen.append(row)
    return chosen


def _name_id_candidates(rows: Sequence[Row], filters: Filters) -> set[str] | None:
    """dockerd's fast path: IDs picked by unique prefix, names by expression."""
    ids, names = filters.get("id", ()), filters.get("name", ())
    if not ids and not names:
        return None
    matches: set[str] = set()
    for prefix in ids:
        found = [r.record.id for r in rows if r.record.id.startswith(prefix)]
        if len(found) == 1:
            matches.add(found[0])
    if names:
        for row in rows:
            if ids and row.record.id not in matches:
                continue
            if _search(names, row.record.name) or _search(names, row.record.short_name):
                matches.add(row.record.id)
    return matches


def _has_volume(record: ContainerRecord, wanted: Sequence[str]) -> bool:
    for mount in record.mounts:
        keys = {mount.get("Destination"), mount.get("Name") or mount.get("Source")}
        if keys & set(wanted):
            return True
    return False


def _on_network(record: ContainerRecord, wanted: Sequence[str]) -> bool:
    networks = dict(record.network_settings.get("Networks") or {})
    for value in wanted:
        if value in networks:
            return True
        if any(str((nw or {}).get("NetworkID", "")).startswith(value)
               for nw in networks.values() if (nw or {}).get("NetworkID")):
            return True
    return False


def _port_match(row: Row, publish: set[tuple[int, str]], expose: set[tuple[int, str]]) -> bool:
    for port in row.ports:
        kind = str(port.get("Type", "tcp"))
        if (int(port.get("PublicPort", 0)), kind) in publish:
            return True
        if (int(port.get("PrivatePort", 0)), kind) in expose:
            return True
    return False
