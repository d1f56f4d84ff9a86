"""Docker's network filters for ``docker network ls`` and ``network prune``, as pure functions."""

from __future__ import annotations

import re
import time
from datetime import datetime

from services.common.errors import InvalidArgument
from services.common.filter_args import duration_seconds
from services.netd.models import Filters, Network

LIST_FILTERS = frozenset({"driver", "id", "label", "name", "scope", "type", "dangling"})
PRUNE_FILTERS = frozenset({"until", "label", "label!"})


def check(filters: Filters, allowed: frozenset[str]) -> None:
    for name in filters:
        if name not in allowed:
            raise InvalidArgument(f"invalid filter '{name}'")
    for value in filters.get("type", ()):
        if value not in ("custom", "builtin"):
            raise InvalidArgument(f"invalid filter: 'type'='{value}'")
    for value in filters.get("dangling", ()):
        if value.lower() not in ("true", "false", "1", "0"):
            raise InvalidArgument(f"invalid filter 'dangling={value}'")


def _match(pattern: str, text: str) -> bool:
    """moby's filters.Match: an exact value or a regular expression found in ``text``."""
    if pattern == text:
        return True
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return False


def _labels_match(wanted: tuple[str, ...], labels: dict[str, str]) -> bool:
    """Every ``key`` or ``key=value`` in ``wanted`` is among ``labels`` (MatchKVList)."""
    for item in wanted:
        key, sep, value = item.partition("=")
        if key not in labels or (sep and labels[key] != value):
            return False
    return True


def matches(network: Network, filters: Filters) -> bool:
    """Whether a network passes every list filter (values of one filter are ORed)."""
    def any_of(name: str, test: object) -> bool:
        values = filters.get(name, ())
        return not values or any(test(v) for v in values)  # type: ignore[operator]

    labels = dict(network.labels)
    dangling = {v.lower() in ("true", "1") for v in filters.get("dangling", ())}
    is_dangling = not network.builtin and not network.endpoints
    return (
        any_of("driver", lambda v: v == network.driver)
        and any_of("id", lambda v: _match(v, network.id))
        and any_of("name", lambda v: _match(v, network.name))
        and any_of("scope", lambda v: v == network.scope)
        and any_of("type", lambda v: (v == "builtin") == network.builtin)
        and (not filters.get("label") or _labels_match(filters["label"], labels))
        and (not dangling or is_dangling in dangling)
    )


def until_timestamp(text: str, now: float | None = None) -> float:
    """``until``: a Unix timestamp, an RFC 3339 date/time, or a Go duration before now."""
    now = time.time() if now is None else now
    duration = duration_seconds(text)
    if duration is not None:
        return now - duration
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise InvalidArgument(f"failed to parse value {text!r} of filter 'until'") from None


def created_timestamp(created: str) -> float:
    """Seconds since the epoch of an RFC3339Nano string (nanoseconds truncated)."""
    head, dot, tail = created.rstrip("Z").partition(".")
    fraction = float("0." + tail[:9]) if dot and tail[:9].isdigit() else 0.0
    return datetime.fromisoformat(head + "+00:00").timestamp() + fraction


def prune_matches(network: Network, filters: Filters, now: float | None = None) -> bool:
    labels = dict(network.labels)
    for text in filters.get("until", ()):
        if created_timestamp(network.created) >= until_timestamp(text, now):
            return False
    if filters.get("label") and not _labels_match(filters["label"], labels):
        return False
    return not any(_labels_match((item,), labels) for item in filters.get("label!", ()))
