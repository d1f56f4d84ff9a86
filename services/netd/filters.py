"""Docker's network filters for ``docker network ls`` and ``network prune``, as pure functions."""

from __future__ import annotations

from datetime import datetime

from services.common.errors import InvalidArgument
from services.common.filter_args import (
    bool_value,
    check_filters,
    labels_match,
    parse_timestamp,
    pattern_match,
)
from services.netd.models import Filters, Network

LIST_FILTERS = frozenset({"driver", "id", "label", "name", "scope", "type", "dangling"})
PRUNE_FILTERS = frozenset({"until", "label", "label!"})


def check(filters: Filters, allowed: frozenset[str]) -> None:
    """Refuse unknown names, and values of ``type``/``dangling`` dockerd refuses."""
    check_filters(filters, allowed)
    for value in filters.get("type", ()):
        if value not in ("custom", "builtin"):
            # dockerd words this one differently from every other filter.
            raise InvalidArgument(f"invalid filter: 'type'='{value}'")
    for value in filters.get("dangling", ()):
        bool_value("dangling", value)


def matches(network: Network, filters: Filters) -> bool:
    """Whether a network passes every list filter (values of one filter are ORed)."""
    def any_of(name: str, test: object) -> bool:
        values = filters.get(name, ())
        return not values or any(test(v) for v in values)  # type: ignore[operator]

    labels = dict(network.labels)
    dangling = {bool_value("dangling", v) for v in filters.get("dangling", ())}
    is_dangling = not network.builtin and not network.endpoints
    return (
        any_of("driver", lambda v: v == network.driver)
        and any_of("id", lambda v: pattern_match(v, network.id))
        and any_of("name", lambda v: pattern_match(v, network.name))
        and any_of("scope", lambda v: v == network.scope)
        and any_of("type", lambda v: (v == "builtin") == network.builtin)
        and labels_match(filters, labels)
        and (not dangling or is_dangling in dangling)
    )


def until_timestamp(text: str, now: float | None = None) -> float:
    """``until``: a Unix timestamp, an RFC 3339 date/time, or a Go duration before now."""
    try:
        return parse_timestamp(text, now)
    except InvalidArgument:
        # The shared parser's wording is the image/container one; networks keep theirs.
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
    return labels_match(filters, labels)
