"""``POST /containers/prune``: remove every stopped container the filters select.

As dockerd: running, paused and restarting containers are kept; ``until``
keeps containers created after the time; ``label``/``label!`` select by label.
Each container goes through the ordinary removal (so its sandbox, cgroup,
snapshot and volume references go too); one that fails to go is skipped, the
rest are still removed, and the space reclaimed is the writable layers'.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gateway.containers.lifecycle import ContainerLifecycle
from gateway.containers.records import ContainerRecord
from gateway.containers.sizes import writable_layer_size
from gateway.containers.store import ContainerStore
from gateway.containers.times import parse_rfc3339
from services.common.errors import DockyardError, InvalidArgument
from services.common.filter_args import labels_match, parse_timestamp
from services.execd.models import RuntimeState

FILTERS = frozenset({"until", "label", "label!"})
KEEP = frozenset({"running", "paused", "restarting"})


@dataclass(frozen=True)
class ContainerPruneResult:
    deleted: tuple[str, ...]
    space_reclaimed: int


def check_filters(filters: Mapping[str, tuple[str, ...]]) -> float | None:
    """Refuse unknown filters (400); the ``until`` bound as a Unix time, None without one."""
    for name in filters:
        if name not in FILTERS:
            raise InvalidArgument(f"invalid filter '{name}'")
    until = filters.get("until", ())
    if len(until) > 1:
        raise InvalidArgument("more than one until filter specified")
    return parse_timestamp(until[0]) if until else None


def is_prunable(
    record: ContainerRecord, state: RuntimeState,
    filters: Mapping[str, tuple[str, ...]], until: float | None,
) -> bool:
    if state.status in KEEP:
        return False
    created = parse_rfc3339(record.created) or 0.0
    if until is not None and created > until:
        return False
    return labels_match(filters, dict(record.config.get("Labels") or {}))


async def prune_containers(
    records: ContainerStore, lifecycle: ContainerLifecycle,
    filters: Mapping[str, tuple[str, ...]],
) -> ContainerPruneResult:
    until = check_filters(filters)
    deleted: list[str] = []
    reclaimed = 0
    for record in await records.list():
        if not is_prunable(record, await lifecycle.state(record.id), filters, until):
            continue
        size = await writable_layer_size(record.rootfs)
        try:
            await lifecycle.remove(record.id)
        except DockyardError:
            continue  # gone meanwhile, or refused: dockerd goes on with the others too
        deleted.append(record.id)
        reclaimed += size
    return ContainerPruneResult(tuple(deleted), reclaimed)
