"""Times as Docker writes and shows them: RFC 3339 with nanoseconds, and "Up 3 seconds"."""

from __future__ import annotations

import functools
import re
import time
from datetime import UTC, datetime

ZERO_TIME = "0001-01-01T00:00:00Z"
"""Go's zero time, which Docker shows for a time that never happened."""

_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$"
)


def rfc3339_nano(ns: int | None = None) -> str:
    """Go's time.RFC3339Nano in UTC: nanoseconds with trailing zeros dropped."""
    ns = time.time_ns() if ns is None else ns
    seconds, fraction = divmod(ns, 1_000_000_000)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    digits = f"{fraction:09d}".rstrip("0")
    return f"{stamp}.{digits}Z" if digits else f"{stamp}Z"


@functools.lru_cache(maxsize=16384)
def parse_rfc3339(text: str) -> float | None:
    """Seconds since the epoch; None for Go's zero time or an unreadable value.

    Kept per text: ``docker ps`` parses every container's timestamps each time.
    """
    if not text or text.startswith("0001-01-01"):
        return None
    match = _RFC3339.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    stamp = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                     tzinfo=UTC).timestamp()
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        stamp -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    return stamp + (int(fraction.ljust(9, "0")) / 1e9 if fraction else 0.0)


def human_duration(seconds: float) -> str:
    """go-units' HumanDuration, which ``docker ps`` STATUS is written with."""
    whole = int(seconds)
    if whole < 1:
        return "Less than a second"
    if whole == 1:
        return "1 second"
    if whole < 60:
        return f"{whole} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"
