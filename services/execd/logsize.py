"""Sizes as Docker's log-opts write them: ``10m``, ``1g``, ``500k``, ``2048``."""

from __future__ import annotations

import re

from services.common.errors import InvalidArgument

_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgtb]?)i?b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes of ``text``; -1 for an empty value (no limit)."""
    if not text:
        return -1
    match = _SIZE.match(text)
    if not match:
        raise InvalidArgument(f"invalid size: '{text}'")
    return int(float(match.group(1)) * _UNITS[match.group(2).lower()])
