"""What the prunes report, as dockerd does: one event per object removed (``destroy``
for containers, networks and volumes; ``untag``/``delete`` for images), then one
``prune`` event of the type, without an actor, whose ``reclaimed`` is the bytes freed."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from gateway.events import emit
from gateway.events.resources import emit_network, emit_volume


def emit_prune(event_type: str, reclaimed: int) -> None:
    emit(event_type, "prune", "", {"reclaimed": str(max(reclaimed, 0))})


def image_removal_events(items: Iterable[Any]) -> Iterator[tuple[str, str, str]]:
    """(action, actor, name) of a prune's DeleteItems.

    An image's untagged references come before the line that deletes it; their
    actor is that image's ID, as in dockerd's ``untag`` events.
    """
    untagged: list[str] = []
    for item in items:
        if item.untagged:
            untagged.append(str(item.untagged))
        elif item.deleted:
            deleted = str(item.deleted)
            for name in untagged:
                yield "untag", deleted, name
            untagged.clear()
            yield "delete", deleted, deleted
    for name in untagged:  # references untagged from an image that stays
        yield "untag", name, name


def emit_images_pruned(items: Iterable[Any], reclaimed: int) -> None:
    for action, actor, name in image_removal_events(items):
        emit("image", action, actor, {"name": name})
    emit_prune("image", reclaimed)


def emit_networks_pruned(before: Iterable[Any], deleted_names: Iterable[str]) -> None:
    """``before``: the networks listed ahead of the prune (their ID and driver are gone after)."""
    by_name = {network.name: network for network in before}
    for name in deleted_names:
        network = by_name.get(name)
        if network is not None:
            emit_network(network, "destroy")
    emit_prune("network", 0)  # dockerd reports nothing reclaimed for networks


def emit_volumes_pruned(names: Iterable[str], reclaimed: int) -> None:
    for name in names:
        emit_volume(name, "destroy")  # prune removes local volumes only
    emit_prune("volume", reclaimed)
