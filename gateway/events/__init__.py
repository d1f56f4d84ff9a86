"""Engine events: one :func:`emit` for every route and watcher that reports an action.

The gateway installs its :class:`~gateway.events.journal.EventJournal` at
start-up; without one (unit tests' apps) :func:`emit` does nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.events.journal import EventJournal
from gateway.events.message import container_attributes
from gateway.store_mirror import announce_change
from services.common.errors import Unavailable

_journal: EventJournal | None = None


def install(journal: EventJournal) -> None:
    global _journal
    _journal = journal


def uninstall(journal: EventJournal) -> None:
    global _journal
    if _journal is journal:
        _journal = None


def current_journal() -> EventJournal:
    """The running gateway's journal; 503 when there is none (a gateway without etcd)."""
    if _journal is None:
        raise Unavailable("the event journal is not running")
    return _journal


def emit(
    event_type: str, action: str, actor_id: str, attributes: Mapping[str, str] | None = None
) -> None:
    """Record an action; never blocks and never fails the caller."""
    # A subscriber told of the action reads what it changed (store_mirror.py).
    announce_change()
    if _journal is not None:
        _journal.emit(event_type, action, actor_id, attributes or {})


def emit_container(record: Any, action: str, **extra: str) -> None:
    """A container event with dockerd's attributes (name, image, labels) from its record."""
    emit("container", action, record.id, container_attributes(
        record.name, record.image_name, record.config.get("Labels"), **extra
    ))
