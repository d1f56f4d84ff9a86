"""Pure parts of issue 7's leftovers: which mounts a stopped container's copy sees, the
read-only check, the actors of a prune's image events and the filters' wording."""

from __future__ import annotations

import pytest

from gateway.containers.records import ContainerRecord
from gateway.events.prunes import image_removal_events
from gateway.routes.container_archive import copy_mounts, in_mount
from services.common.errors import InvalidArgument
from services.common.filter_args import check_filters, optional_bool
from services.imaged.models import CopyMount, DeleteItem
from services.imaged.volumes import filters as volume_filters

CID = "c" * 64


def _record(*mounts: dict[str, object]) -> ContainerRecord:
    return ContainerRecord(id=CID, name="/web", created="2024-01-01T00:00:00Z", path="sh",
                           args=(), config={}, host_config={}, networking_config={},
                           image_id="sha256:" + "a" * 64, image_name="busybox",
                           mounts=tuple(mounts))


def test_a_stopped_container_copies_through_its_volumes_and_binds_only() -> None:
    record = _record(
        {"Type": "volume", "Name": "v", "Source": "/data/volumes/v/_data",
         "Destination": "/data", "RW": True},
        {"Type": "bind", "Source": "/host/etc", "Destination": "/etc/app", "RW": False},
        {"Type": "tmpfs", "Source": "", "Destination": "/run", "RW": True},
        {"Type": "volume", "Name": "", "Source": "", "Destination": "/half", "RW": True},
    )
    assert copy_mounts(record, pid=0) == (
        CopyMount("/data/volumes/v/_data", "/data", read_only=False),
        CopyMount("/host/etc", "/etc/app", read_only=True),
    )
    assert copy_mounts(record, pid=4242) == ()  # a running one's root has them already


def test_in_mount_is_lexical_on_whole_components() -> None:
    mounts = (CopyMount("/s", "/data"), CopyMount("/t", "/srv/"))
    assert in_mount("/data", mounts) and in_mount("data/x/y", mounts)
    assert in_mount("/srv/a", mounts) and in_mount("/data/../data/z", mounts)
    assert not in_mount("/database", mounts)
    assert not in_mount("/data/../etc", mounts)
    assert not in_mount("/tmp", ())


def test_untagged_references_take_the_id_of_the_image_deleted_after_them() -> None:
    items = [DeleteItem(untagged="a:1"), DeleteItem(untagged="a:2"),
             DeleteItem(deleted="sha256:aaa"), DeleteItem(deleted="sha256:bbb"),
             DeleteItem(untagged="c:1")]
    assert list(image_removal_events(items)) == [
        ("untag", "sha256:aaa", "a:1"), ("untag", "sha256:aaa", "a:2"),
        ("delete", "sha256:aaa", "sha256:aaa"), ("delete", "sha256:bbb", "sha256:bbb"),
        ("untag", "c:1", "c:1"),
    ]


def test_filter_errors_keep_each_subsystems_wording() -> None:
    with pytest.raises(InvalidArgument, match=r"^invalid filter 'x'$"):
        check_filters({"x": ("1",)}, frozenset({"label"}))
    with pytest.raises(InvalidArgument, match=r"^Invalid filter 'a'$"):
        volume_filters.check({"z": ("1",), "a": ("1",)}, frozenset())
    with pytest.raises(InvalidArgument, match=r"^Invalid filter 'all=maybe'$"):
        optional_bool({"all": ("maybe",)}, "all", volume_filters.WORDING)
    with pytest.raises(InvalidArgument, match="conflicting values"):
        optional_bool({"dangling": ("true", "0")}, "dangling")
    assert optional_bool({}, "dangling") is None
    assert optional_bool({"dangling": ("TRUE", "1")}, "dangling") is True
