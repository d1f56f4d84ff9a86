"""Events: the message shape, the filters, since/until parsing and the subscriber queues."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.events.containers import exec_action, signal_number
from gateway.events.filters import EventFilter
from gateway.events.images import reference
from gateway.events.journal import SUBSCRIBER_BACKLOG, StreamEnded, Subscription
from gateway.events.message import LEGACY_TYPES, container_attributes, event_message
from gateway.events.window import parse_timestamp
from services.common.errors import InvalidArgument
from tests.unit.spec_schema import validate

CONTAINER_ID = "a" * 64


def container_event(action: str, **extra: str) -> dict[str, Any]:
    attributes = container_attributes(
        "/web", "busybox:latest", {"tier": "front", "name": "label-loses"}, **extra
    )
    return event_message("container", action, CONTAINER_ID, attributes, 1_700_000_000_123_456_789)


def without_legacy(message: dict[str, Any]) -> dict[str, Any]:
    # status/id/from predate API 1.22: dockerd still sends them but the spec no longer lists them.
    return {k: v for k, v in message.items() if k not in ("status", "id", "from")}


def test_container_message_has_dockerds_shape() -> None:
    message = container_event("die", exitCode="0")
    assert message["Type"] == "container" and message["Action"] == "die"
    assert message["Actor"] == {"ID": CONTAINER_ID, "Attributes": {
        "tier": "front", "name": "web", "image": "busybox:latest", "exitCode": "0"}}
    assert message["scope"] == "local"
    assert message["time"] == 1_700_000_000 and message["timeNano"] == 1_700_000_000_123_456_789
    assert (message["status"], message["id"], message["from"]) == (
        "die", CONTAINER_ID, "busybox:latest")
    assert validate(without_legacy(message), "EventMessage") == []


@pytest.mark.parametrize("event_type", ["image", "network", "volume"])
def test_other_types_validate_and_carry_legacy_fields_only_for_images(event_type: str) -> None:
    message = event_message(event_type, "create", "x1", {"name": "x"}, 5)
    assert validate(without_legacy(message), "EventMessage") == []
    assert ("status" in message) == (event_type in LEGACY_TYPES)
    assert "from" not in message


def test_filter_by_type_event_and_label() -> None:
    die = container_event("die")
    assert EventFilter.parse({"type": ("container",)}).matches(die)
    assert not EventFilter.parse({"type": ("network",)}).matches(die)
    assert EventFilter.parse({"event": ("start", "die")}).matches(die)
    assert not EventFilter.parse({"event": ("start",)}).matches(die)
    assert EventFilter.parse({"label": ("tier",)}).matches(die)
    assert EventFilter.parse({"label": ("tier=front",)}).matches(die)
    assert not EventFilter.parse({"label": ("tier=back",)}).matches(die)
    # Keys AND together.
    assert not EventFilter.parse({"type": ("container",), "event": ("start",)}).matches(die)


def test_event_filter_without_argument_matches_exec_actions() -> None:
    started = container_event("exec_start: sh -c date")
    assert EventFilter.parse({"event": ("exec_start",)}).matches(started)
    assert not EventFilter.parse({"event": ("exec_create",)}).matches(started)


def test_container_filter_matches_id_prefix_or_name_of_containers_only() -> None:
    die = container_event("die")
    assert EventFilter.parse({"container": ("web",)}).matches(die)
    assert EventFilter.parse({"container": (CONTAINER_ID[:12],)}).matches(die)
    assert not EventFilter.parse({"container": ("other",)}).matches(die)
    network = event_message("network", "connect", CONTAINER_ID, {"name": "web"}, 1)
    assert not EventFilter.parse({"container": ("web",)}).matches(network)
    assert EventFilter.parse({"network": ("web",)}).matches(network)


def test_image_filter_matches_containers_image_and_images_name_with_or_without_tag() -> None:
    die = container_event("die")
    assert EventFilter.parse({"image": ("busybox",)}).matches(die)
    assert EventFilter.parse({"image": ("busybox:latest",)}).matches(die)
    pulled = event_message(
        "image", "pull", "localhost:5000/app:v1", {"name": "localhost:5000/app"}, 1)
    assert EventFilter.parse({"image": ("localhost:5000/app",)}).matches(pulled)
    assert not EventFilter.parse({"image": ("busybox",)}).matches(pulled)


def test_volume_filter_and_unknown_keys() -> None:
    created = event_message("volume", "create", "data", {"driver": "local"}, 1)
    assert EventFilter.parse({"volume": ("data",)}).matches(created)
    assert not EventFilter.parse({"volume": ("dat",)}).matches(created)
    assert not EventFilter.parse({"daemon": ("x",)}).matches(created)
    with pytest.raises(InvalidArgument, match="invalid filter 'colour'"):
        EventFilter.parse({"colour": ("red",)})


def test_timestamps() -> None:
    assert parse_timestamp("since", "") is None
    assert parse_timestamp("since", "1700000000") == 1_700_000_000_000_000_000
    assert parse_timestamp("since", "1700000000.5") == 1_700_000_000_500_000_000
    assert parse_timestamp("until", "1700000000.000000001") == 1_700_000_000_000_000_001
    with pytest.raises(InvalidArgument, match="invalid value for until"):
        parse_timestamp("until", "yesterday")


def test_signal_numbers_and_exec_actions_as_dockerd_names_them() -> None:
    assert signal_number("") == "9"
    assert signal_number("", 15) == "15"
    assert signal_number("SIGHUP") == "1"
    assert signal_number("term") == "15"
    assert signal_number("10") == "10"
    assert exec_action("exec_create", {"Cmd": ["sh", "-c", "date"]}) == "exec_create: sh -c date"
    assert reference("busybox", "") == "busybox:latest"
    assert reference("localhost:5000/app", "v1") == "localhost:5000/app:v1"
    assert reference("localhost:5000/app", "") == "localhost:5000/app:latest"
    assert reference("docker.io/library/web", "v1") == "web:v1"


def test_a_subscriber_that_falls_behind_is_dropped_not_waited_for() -> None:
    async def scenario() -> None:
        subscription = Subscription()
        for n in range(SUBSCRIBER_BACKLOG + 5):
            subscription.offer(f"k{n}", {"n": n})  # never blocks
        assert subscription.dropped
        with pytest.raises(StreamEnded):
            while True:
                await subscription.next()

    asyncio.run(scenario())
