"""Pure parts of ``docker system df`` and ``docker container prune``."""

from __future__ import annotations

import pytest

from gateway.containers.prune import check_filters, is_prunable
from gateway.containers.records import ContainerRecord
from gateway.disk_usage import requested_kinds, shared_sizes
from services.common.errors import InvalidArgument
from services.execd.models import RuntimeState


def test_shared_size_counts_layers_another_image_uses() -> None:
    sizes = {"base": 100, "mid": 20, "top-a": 3, "top-b": 4}
    images = {"a": ["base", "mid", "top-a"], "b": ["base", "mid", "top-b"], "c": ["solo"]}
    assert shared_sizes(images, sizes) == {"a": 120, "b": 120, "c": 0}


def test_df_types() -> None:
    assert requested_kinds([]) == {"container", "image", "volume", "build-cache"}
    assert requested_kinds(["volume"]) == {"volume"}
    with pytest.raises(InvalidArgument, match="unknown object type: disk"):
        requested_kinds(["disk"])


def _record(created: str, labels: dict[str, str]) -> ContainerRecord:
    return ContainerRecord(
        id="f" * 64, name="/x", created=created, path="true", args=(),
        config={"Labels": labels}, host_config={}, networking_config={},
        image_id="sha256:" + "e" * 64, image_name="busybox",
    )


def test_prune_selection() -> None:
    record = _record("2026-01-01T00:00:00Z", {"keep": "yes"})
    exited = RuntimeState(container_id=record.id, status="exited")
    running = RuntimeState(container_id=record.id, status="running")
    assert is_prunable(record, exited, {}, None)
    assert not is_prunable(record, running, {}, None)
    assert not is_prunable(record, exited, {"label!": ("keep",)}, None)
    assert is_prunable(record, exited, {"label": ("keep=yes",)}, None)
    assert not is_prunable(record, exited, {}, check_filters({"until": ("2025-12-31",)}))
    assert is_prunable(record, exited, {}, check_filters({"until": ("2026-01-02",)}))
    with pytest.raises(InvalidArgument, match="invalid filter 'dangling'"):
        check_filters({"dangling": ("true",)})
