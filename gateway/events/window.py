"""``since``/``until`` of ``/events``: Docker's ``seconds[.nanoseconds]`` timestamps."""

from __future__ import annotations

import re

from services.common.errors import InvalidArgument

_TIMESTAMP = re.compile(r"(-?\d+)(?:\.(\d{1,9}))?")


def parse_timestamp(name: str, text: str) -> int | None:
    """``"1700000000.5"`` → nanoseconds since the epoch; ``""`` → None."""
    if not text:
        return None
    match = _TIMESTAMP.fullmatch(text.strip())
    if match is None:
        raise InvalidArgument(
            f"invalid value for {name}: {text!r}: expected a Unix timestamp (seconds[.nanoseconds])"
        )
    seconds, fraction = match.group(1), match.group(2) or ""
    return int(seconds) * 1_000_000_000 + int(fraction.ljust(9, "0") or "0")
