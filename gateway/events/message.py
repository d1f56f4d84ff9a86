"""One event as the Engine API shows it (``EventMessage``), and as it is stored.

The stored form is the message itself: ``/events`` sends what etcd holds, so a
replayed event and a live one look the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Types whose messages also carry the pre-1.22 fields (status, id, from), as dockerd sends them.
LEGACY_TYPES = ("container", "image")


def event_message(
    event_type: str, action: str, actor_id: str, attributes: Mapping[str, str], time_nano: int
) -> dict[str, Any]:
    message: dict[str, Any] = {}
    if event_type in LEGACY_TYPES:
        message["status"] = action
        message["id"] = actor_id
        if event_type == "container" and attributes.get("image"):
            message["from"] = attributes["image"]
    message.update({
        "Type": event_type,
        "Action": action,
        "Actor": {"ID": actor_id, "Attributes": {k: str(v) for k, v in attributes.items()}},
        "scope": "local",
        "time": time_nano // 1_000_000_000,
        "timeNano": time_nano,
    })
    return message


def container_attributes(
    name: str, image: str, labels: Mapping[str, Any] | None, **extra: str
) -> dict[str, str]:
    """dockerd's attributes of a container event: its labels, then name and image (they win)."""
    attributes = {str(k): str(v) for k, v in (labels or {}).items()}
    attributes.update(extra)
    attributes["name"] = name.lstrip("/")
    attributes["image"] = image
    return attributes
