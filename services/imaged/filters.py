"""Docker's image filters for ``docker images`` and ``docker image prune``, as pure functions."""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from services.common.errors import InvalidArgument
from services.imaged.models import Filters
from services.imaged.reference import Reference

LIST_FILTERS = frozenset({"before", "since", "dangling", "label", "label!", "reference", "until"})
PRUNE_FILTERS = frozenset({"dangling", "label", "label!", "until"})

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def check_filters(filters: Filters, allowed: frozenset[str]) -> None:
    for name in filters:
        if name not in allowed:
            raise InvalidArgument(f"invalid filter '{name}'")


def bool_filter(filters: Filters, name: str, default: bool) -> bool:
    """filters.GetBoolOrDefault: ``true``/``1`` or ``false``/``0``; conflicting values fail."""
    values = filters.get(name, ())
    if not values:
        return default
    seen = set()
    for value in values:
        lowered = value.lower()
        if lowered in ("true", "1"):
            seen.add(True)
        elif lowered in ("false", "0"):
            seen.add(False)
        else:
            raise InvalidArgument(f"invalid filter '{name}={value}'")
    if len(seen) > 1:
        raise InvalidArgument(f"invalid filter '{name}': conflicting values")
    return seen.pop()


def _duration_seconds(text: str) -> float | None:
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
    duration = _duration_seconds(value)
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


def labels_match(filters: Filters, labels: Mapping[str, str]) -> bool:
    """``label=k``/``label=k=v`` must all match; ``label!=…`` must all not match."""
    def has(spec: str) -> bool:
        key, sep, value = spec.partition("=")
        return key in labels and (not sep or labels[key] == value)

    return all(has(spec) for spec in filters.get("label", ())) and not any(
        has(spec) for spec in filters.get("label!", ())
    )


def reference_matches(pattern: str, reference: Reference) -> bool:
    """reference.FamiliarMatch: the pattern against ``name:tag``, then against ``name``."""
    return _path_match(pattern, reference.familiar) or _path_match(
        pattern, reference.familiar_name
    )


def _path_match(pattern: str, name: str) -> bool:
    # Go's path.Match: "*" does not cross "/"; fnmatch's does, so match per segment.
    pattern_parts, name_parts = pattern.split("/"), name.split("/")
    if len(pattern_parts) != len(name_parts):
        return False
    return all(
        fnmatch.fnmatchcase(n, p) for p, n in zip(pattern_parts, name_parts, strict=True)
    )
