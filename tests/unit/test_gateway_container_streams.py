"""Stream details clients depend on: stdcopy frames, detach keys, log times, port bindings."""

from __future__ import annotations

import pytest

from gateway.containers.networking import port_bindings
from gateway.containers.start_mounts import plan_mounts
from gateway.streams import stdcopy
from gateway.streams.detach import parse_detach_keys
from gateway.streams.logtimes import format_timestamp, parse_log_time
from services.common.errors import InvalidArgument
from services.netd.models import PortBinding


def test_stdcopy_frames_round_trip() -> None:
    data = stdcopy.frame(stdcopy.STDOUT, b"out\n") + stdcopy.frame(stdcopy.STDERR, b"err")
    assert data[:8] == b"\x01\x00\x00\x00\x00\x00\x00\x04"
    frames, rest = stdcopy.unframe(data + b"\x01\x00")
    assert frames == [(1, b"out\n"), (2, b"err")]
    assert rest == b"\x01\x00"


def test_default_detach_keys_are_ctrl_p_ctrl_q() -> None:
    keys = parse_detach_keys("")
    assert keys.sequence == b"\x10\x11"
    assert keys.scan(b"ab\x10") == (b"ab", False)
    assert keys.scan(b"\x11rest") == (b"", True)


def test_a_partial_detach_sequence_is_passed_on() -> None:
    keys = parse_detach_keys("ctrl-x,y")
    assert keys.scan(b"\x18") == (b"", False)
    assert keys.scan(b"z") == (b"\x18z", False)


def test_bad_detach_keys_are_refused() -> None:
    with pytest.raises(InvalidArgument, match=r"Invalid detach keys \(ctrl-\) provided"):
        parse_detach_keys("ctrl-")


def test_log_times() -> None:
    assert parse_log_time("") == 0
    assert parse_log_time("1700000000.5") == 1_700_000_000_500_000_000
    assert format_timestamp(1_700_000_000_000_000_001) == "2023-11-14T22:13:20.000000001Z"
    with pytest.raises(InvalidArgument):
        parse_log_time("yesterday")


def test_port_bindings_from_host_config() -> None:
    bindings = port_bindings({"PortBindings": {
        "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}],
        "53/udp": [{"HostIp": "", "HostPort": ""}],
        "9000": [{"HostPort": "9000-9010"}],
    }})
    assert bindings == (
        PortBinding(80, "tcp", "127.0.0.1", 8080),
        PortBinding(53, "udp", "", 0),
        PortBinding(9000, "tcp", "", 9000, 9010),
    )


def test_mount_plan_orders_by_depth_and_later_wins() -> None:
    planned = plan_mounts(
        {"Volumes": {"/data": {}}},
        {"Binds": ["/srv/a/b:/data/sub:ro", "/srv/x:/data"],
         "Mounts": [{"Type": "tmpfs", "Target": "/run", "TmpfsOptions": {"SizeBytes": 1 << 20}}]},
    )
    assert [(m.type, m.destination) for m in planned] == [
        ("bind", "/data"), ("tmpfs", "/run"), ("bind", "/data/sub")]
    assert planned[2].read_only and planned[2].propagation == "rprivate"
    assert planned[1].tmpfs_options == ("size=1024k",)
