"""Times of ``docker logs``: ``--since``/``--until`` values and ``-t`` timestamps."""

from __future__ import annotations

from datetime import UTC, datetime

from services.common.errors import InvalidArgument


def parse_log_time(text: str) -> int:
    """Unix nanoseconds of Docker's ``since``/``until`` (``1700000000.123456789``); 0 if empty.

    The CLI converts relative and RFC 3339 values into this form before sending.
    """
    if not text:
        return 0
    seconds, _, fraction = text.partition(".")
    try:
        whole = int(seconds)
        nanos = int((fraction + "000000000")[:9]) if fraction else 0
    except ValueError:
        raise InvalidArgument(f"invalid value for since/until: {text!r}") from None
    total = whole * 1_000_000_000 + nanos
    if not -(1 << 63) <= total < (1 << 63):
        # Beyond 64-bit nanoseconds (the year 2262): no log entry is that far out.
        raise InvalidArgument(f"invalid value for since/until: {text!r}: value out of range")
    return total


def format_timestamp(nanos: int) -> str:
    """RFC 3339 with nine fractional digits, UTC, as ``docker logs -t`` prints."""
    stamp = datetime.fromtimestamp(nanos // 1_000_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos % 1_000_000_000:09d}Z"
