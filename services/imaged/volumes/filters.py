"""Docker's volume filters (``docker volume ls`` and ``prune``) as pure functions."""

from __future__ import annotations

import re

from services.common.filter_args import check_filters, labels_match, optional_bool
from services.imaged.models import Filters
from services.imaged.volumes.models import Volume

LIST_FILTERS = frozenset({"dangling", "driver", "label", "name"})
PRUNE_FILTERS = frozenset({"all", "label", "label!"})
WORDING = "Invalid filter"  # the volume service's own capital, as dockerd's


def check(filters: Filters, allowed: frozenset[str]) -> None:
    # Sorted: the same unknown name is reported whatever order the client sent them in.
    check_filters({name: filters[name] for name in sorted(filters)}, allowed, WORDING)


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
    dangling = optional_bool(filters, "dangling", WORDING)
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
    if not optional_bool(filters, "all", WORDING) and not volume.anonymous:
        return False
    return labels_match(filters, volume.labels or {})
