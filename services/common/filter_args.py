"""Docker's ``filters`` query argument (filters.Args) as pure functions: which names are
allowed, boolean values, ``label``/``label!`` and ``until``-style timestamps.

Shared by the image, volume and container list and prune filters. dockerd words
its errors per subsystem ("invalid filter" for most, "Invalid filter" for
volumes): callers pass the wording they answer with.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from services.common.errors import InvalidArgument

Filters = Mapping[str, tuple[str, ...]]
INVALID_FILTER = "invalid filter"

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def check_filters(
    filters: Filters, allowed: frozenset[str], wording: str = INVALID_FILTER
) -> None:
    """Refuse the first filter name (in ``filters``' order) that is not ``allowed``."""
    for name in filters:
        if name not in allowed:
            raise InvalidArgument(f"{wording} '{name}'")


def bool_value(name: str, value: str, wording: str = INVALID_FILTER) -> bool:
    """One value of a boolean filter: ``true``/``1`` or ``false``/``0``, in any case."""
    lowered = value.lower()
    if lowered in ("true", "1"):
        return True
    if lowered in ("false", "0"):
        return False
    raise InvalidArgument(f"{wording} '{name}={value}'")


def optional_bool(filters: Filters, name: str, wording: str = INVALID_FILTER) -> bool | None:
    """``true``/``1`` or ``false``/``0`` (any case); None when absent; conflicting values fail."""
    values = filters.get(name, ())
    if not values:
        return None
    seen = {bool_value(name, value, wording) for value in values}
    if len(seen) > 1:
        raise InvalidArgument(f"{wording} '{name}': conflicting values")
    return seen.pop()


def bool_filter(
    filters: Filters, name: str, default: bool, wording: str = INVALID_FILTER
) -> bool:
    """filters.GetBoolOrDefault."""
    value = optional_bool(filters, name, wording)
    return default if value is None else value


def go_bool_or_default(filters: Filters, name: str, default: bool) -> bool:
    """moby's filters.GetBoolOrDefault, exactly: only ``true``/``1``/``false``/``0`` (case
    matters); an unknown value is ignored beside a valid one; both truths at once fail."""
    if name not in filters:
        return default
    values = set(filters[name])
    is_true = bool(values & {"true", "1"})
    is_false = bool(values & {"false", "0"})
    if is_true == is_false:
        shown = f"={','.join(filters[name])}" if filters[name] else ""
        raise InvalidArgument(f"{INVALID_FILTER} '{name}{shown}'")
    return is_true


def pattern_match(pattern: str, text: str) -> bool:
    """moby's filters.Match: ``pattern`` equals ``text`` or is a regexp found in it."""
    if pattern == text:
        return True
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return False


def labels_match(filters: Filters, labels: Mapping[str, str]) -> bool:
    """``label=k``/``label=k=v`` must all match; ``label!=…`` must all not match."""
    def has(spec: str) -> bool:
        key, sep, value = spec.partition("=")
        return key in labels and (not sep or labels[key] == value)

    return all(has(spec) for spec in filters.get("label", ())) and not any(
        has(spec) for spec in filters.get("label!", ())
    )


def duration_seconds(text: str) -> float | None:
    """Go's time.ParseDuration for the units Docker users write; None if not a duration."""
    pos, total = 0, 0.0
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    if not body:
        return None
    while pos < len(body):
        match = _DURATION_PART.match(body, pos)
        if match is None:
            return None
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    return sign * total


def parse_timestamp(value: str, now: float | None = None) -> float:
    """Docker's timetypes.GetTimestamp: a duration before now, a Unix time, or a date."""
    current = time.time() if now is None else now
    duration = duration_seconds(value)
    if duration is not None:
        return current - duration
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    text = value.replace("Z", "+00:00")
    for candidate in (text, text + "T00:00:00"):
        try:
            parsed = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.timestamp()
    raise InvalidArgument(f"invalid filter 'until={value}': not a timestamp or duration")
