"""The envelope of every JSON record in etcd: ``{"v": <version>, ...fields}``.

Readers refuse a version they do not know rather than guess at its fields, so
a record written by a newer Dockyard is never half-read by an older one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from services.common.errors import Internal

RECORD_VERSION = 1


def dump_record(data: Mapping[str, Any], version: int = RECORD_VERSION) -> bytes:
    """Serialise ``data`` with its version, keys sorted so equal records are equal bytes."""
    return json.dumps({"v": version, **data}, sort_keys=True).encode()


def load_record(value: bytes, kind: str, version: int = RECORD_VERSION) -> dict[str, Any]:
    """The fields of a stored ``kind`` record; Internal if it is not one we can read."""
    try:
        data = json.loads(value)
    except ValueError:
        raise Internal(f"unreadable {kind} record: not JSON") from None
    if not isinstance(data, dict) or data.get("v") != version:
        found = data.get("v") if isinstance(data, dict) else None
        raise Internal(f"unreadable {kind} record (version {found!r})")
    return data
