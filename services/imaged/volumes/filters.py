"""Docker's volume filters (``docker volume ls`` and ``prune``) as pure functions."""

from __future__ import annotations

import re

from services.common.errors import InvalidArgument
from services.imaged.filters import labels_match
from services.imaged.models import Filters
from services.imaged.volumes.models import Volume

LIST_FILTERS = frozenset({"dangling", "driver", "label", "name"})
PRUNE_FILTERS = frozenset({"all", "label", "label!"})


def check(filters: Filters, allowed: frozenset[str]) -> None:
    for name in sorted(filters):
        if name not in allowed:
            raise InvalidArgument(f"Invalid filter '{name}'")


def _bool(filters: Filters, name: str) -> bool | None:
    values = filters.get(name, ())
    if not values:
        return None
    seen = set()
    for value in values:
        lowered = value.lower()
        if lowered in ("true", "1"):
            seen.add(True)
        elif lowered in ("false", "0"):
            seen.add(False)
        else:
            raise InvalidArgument(f"Invalid filter '{name}={value}'")
    if len(seen) > 1:
        raise InvalidArgument(f"Invalid filter '{name}': conflicting values")
    return seen.pop()


def _name_matches(pattern: str, name: str) -> bool:
    """filters.Args.Match: the exact name, or the pattern as a regular expression."""
    if pattern == name:
        return True
    try:
        return re.search(pattern, name) is not None
    except re.error:
        return False


def list_matches(filters: Filters, volume: Volume) -> bool:
    """Whether ``volume`` passes the ``docker volume ls`` filters (checked already)."""
    dangling = _bool(filters, "dangling")
    if dangling is not None and dangling == bool(volume.users):
        return False
    drivers = filters.get("driver", ())
    if drivers and volume.driver not in drivers:
        return False
    names = filters.get("name", ())
    if names and not any(_name_matches(p, volume.name) for p in names):
        return False
    return labels_match(filters, volume.labels or {})


def prune_matches(filters: Filters, volume: Volume) -> bool:
    """Whether prune removes ``volume``: unused, anonymous unless all=true, labels matching."""
    if volume.users:
        return False
    if not _bool(filters, "all") and not volume.anonymous:
        return False
    return labels_match(filters, volume.labels or {})
