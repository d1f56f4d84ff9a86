"""Which events a ``/events`` subscriber asked for: the ``filters`` parameter.

Keys AND together, values of one key OR together, as in moby's event filter:
``container``/``network`` match an actor's ID (or ID prefix) or its name,
``image`` matches a container's image or an image's ID or name (with or
without tag), ``label`` matches ``key`` or ``key=value`` in the attributes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.common.errors import InvalidArgument

KNOWN_KEYS = frozenset({
    "config", "container", "daemon", "event", "image", "label", "network", "node",
    "plugin", "scope", "secret", "service", "type", "volume",
})
# An event filter naming one of these without its argument matches "exec_start: sh …" too.
ACTIONS_WITH_ARGUMENTS = ("exec_create", "exec_start", "health_status")


def _strip_tag(name: str) -> str:
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


@dataclass(frozen=True)
class EventFilter:
    filters: Mapping[str, tuple[str, ...]]

    @classmethod
    def parse(cls, filters: Mapping[str, tuple[str, ...]]) -> EventFilter:
        for key in filters:
            if key not in KNOWN_KEYS:
                raise InvalidArgument(f"invalid filter '{key}'")
        return cls({k: v for k, v in filters.items() if v})

    def matches(self, message: Mapping[str, Any]) -> bool:
        event_type = str(message.get("Type", ""))
        action = str(message.get("Action", ""))
        actor = message.get("Actor") or {}
        actor_id = str(actor.get("ID", ""))
        attributes: Mapping[str, str] = actor.get("Attributes") or {}
        checks = {
            "type": lambda: event_type in self.filters["type"],
            "scope": lambda: "local" in self.filters["scope"],
            "event": lambda: self._event_matches(action),
            "container": lambda: self._actor_matches("container", event_type, actor_id, attributes),
            "network": lambda: self._actor_matches("network", event_type, actor_id, attributes),
            "volume": lambda: event_type == "volume" and actor_id in self.filters["volume"],
            "image": lambda: self._image_matches(event_type, actor_id, attributes),
            "label": lambda: self._label_matches(attributes),
        }
        for key in self.filters:
            check = checks.get(key)
            # Keys of parts Dockyard has none of (daemon, plugin, service …) match nothing.
            if check is None or not check():
                return False
        return True

    def _event_matches(self, action: str) -> bool:
        wanted = self.filters["event"]
        if action in wanted:
            return True
        verb = action.split(":", 1)[0]
        return verb in ACTIONS_WITH_ARGUMENTS and verb in wanted

    def _actor_matches(
        self, key: str, event_type: str, actor_id: str, attributes: Mapping[str, str]
    ) -> bool:
        if event_type != key:
            return False
        name = attributes.get("name", "")
        return any(
            value == name or (value and actor_id.startswith(value)) for value in self.filters[key]
        )

    def _image_matches(
        self, event_type: str, actor_id: str, attributes: Mapping[str, str]
    ) -> bool:
        name = attributes.get("name" if event_type == "image" else "image", "")
        candidates = {actor_id, name, _strip_tag(actor_id), _strip_tag(name)} - {""}
        return any(value in candidates for value in self.filters["image"])

    def _label_matches(self, attributes: Mapping[str, str]) -> bool:
        for wanted in self.filters["label"]:
            key, has_value, value = wanted.partition("=")
            if key in attributes and (not has_value or attributes[key] == value):
                return True
        return False
