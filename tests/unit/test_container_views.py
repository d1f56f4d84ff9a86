"""Container JSON shapes against the spec, the STATUS strings and the COMMAND column."""

from __future__ import annotations

import time
from typing import Any

import pytest

from gateway.containers.records import ContainerRecord, decode_record, encode_record
from gateway.containers.state import status_text
from gateway.containers.times import human_duration, parse_rfc3339, rfc3339_nano
from gateway.containers.views import command_line, inspect_json, summary_json
from services.execd.models import RuntimeState
from tests.unit.spec_schema import validate, validate_response

ID = "ab" * 32
NOW = 1_700_000_000.0


def stamp(seconds_ago: float) -> str:
    return rfc3339_nano(int((NOW - seconds_ago) * 1e9))


def record(**changes: Any) -> ContainerRecord:
    base = ContainerRecord(
        id=ID, name="/web", created=stamp(60), path="sh", args=("-c", "echo hi there"),
        config={"Hostname": ID[:12], "Image": "busybox", "Cmd": ["sh", "-c", "echo hi there"],
                "Env": ["PATH=/bin"], "Labels": {"tier": "front"}, "Entrypoint": None,
                "ExposedPorts": {"80/tcp": {}}, "Tty": False},
        host_config={"NetworkMode": "bridge", "RestartPolicy": {"Name": "no",
                     "MaximumRetryCount": 0}, "LogConfig": {"Type": "json-file", "Config": {}},
                     "ShmSize": 67108864, "Binds": None, "PortBindings": {}},
        networking_config={}, image_id="sha256:" + "cd" * 32, image_name="busybox",
        rootfs="/var/lib/dockyard/overlay2/x/merged",
        graph_driver_data={"MergedDir": "/m", "UpperDir": "/u", "WorkDir": "/w", "LowerDir": "/l"},
        network_settings={"Networks": {"bridge": {"NetworkID": "n" * 64, "IPAddress": "10.0.0.2"}},
                          "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}],
                                    "53/udp": None}},
        mounts=({"Type": "bind", "Source": "/srv", "Destination": "/data", "Mode": "",
                 "RW": True, "Propagation": "rprivate"},),
    )
    from dataclasses import replace
    return replace(base, **changes)


def test_record_round_trips_through_its_json() -> None:
    original = record()
    assert decode_record(encode_record(original)) == original


def test_inspect_matches_the_spec() -> None:
    body = inspect_json(record(), RuntimeState(container_id=ID), sizes=(10, 20))
    assert validate_response(body, "/containers/{id}/json") == []
    assert body["State"] == {
        "Status": "created", "Running": False, "Paused": False, "Restarting": False,
        "OOMKilled": False, "Dead": False, "Pid": 0, "ExitCode": 0, "Error": "",
        "StartedAt": "0001-01-01T00:00:00Z", "FinishedAt": "0001-01-01T00:00:00Z",
    }
    assert body["Name"] == "/web" and body["Path"] == "sh"
    assert body["Args"] == ["-c", "echo hi there"]
    assert body["Image"] == "sha256:" + "cd" * 32
    assert (body["SizeRw"], body["SizeRootFs"]) == (10, 20)
    assert body["GraphDriver"] == {"Name": "overlay2", "Data": {
        "MergedDir": "/m", "UpperDir": "/u", "WorkDir": "/w", "LowerDir": "/l"}}
    settings = body["NetworkSettings"]
    # Deprecated top-level fields are still written, zero-valued, as dockerd does.
    assert settings["IPAddress"] == "" and settings["SandboxKey"] == ""
    bridge = settings["Networks"]["bridge"]
    assert bridge["IPAddress"] == "10.0.0.2" and bridge["Aliases"] is None
    assert "SizeRw" not in inspect_json(record(), RuntimeState(container_id=ID))


def test_summary_matches_the_spec() -> None:
    running = RuntimeState(container_id=ID, status="running", pid=42, started_at=stamp(3))
    body = summary_json(record(), running, "busybox", NOW)
    assert validate(body, "ContainerSummary") == []
    assert body["Names"] == ["/web"] and body["Image"] == "busybox"
    assert body["Command"] == "sh -c 'echo hi there'"
    assert body["Created"] == int(NOW - 60)
    assert body["State"] == "running" and body["Status"] == "Up 3 seconds"
    assert body["Labels"] == {"tier": "front"}
    assert body["HostConfig"] == {"NetworkMode": "bridge"}
    assert body["Ports"] == [
        {"IP": "0.0.0.0", "PrivatePort": 80, "PublicPort": 8080, "Type": "tcp"},
        {"PrivatePort": 53, "Type": "udp"},
    ]
    assert "SizeRw" not in body


@pytest.mark.parametrize(("runtime", "expected"), [
    (RuntimeState(ID), "Created"),
    (RuntimeState(ID, status="running", started_at=stamp(0.2)), "Up Less than a second"),
    (RuntimeState(ID, status="running", started_at=stamp(1)), "Up 1 second"),
    (RuntimeState(ID, status="running", started_at=stamp(125)), "Up 2 minutes"),
    (RuntimeState(ID, status="paused", started_at=stamp(120)), "Up 2 minutes (Paused)"),
    (RuntimeState(ID, status="exited", exit_code=0, started_at=stamp(400),
                  finished_at=stamp(300)), "Exited (0) 5 minutes ago"),
    (RuntimeState(ID, status="exited", exit_code=137, started_at=stamp(9000),
                  finished_at=stamp(3700)), "Exited (137) About an hour ago"),
    (RuntimeState(ID, status="restarting", exit_code=1, started_at=stamp(10),
                  finished_at=stamp(2)), "Restarting (1) 2 seconds ago"),
    (RuntimeState(ID, status="dead"), "Dead"),
    (RuntimeState(ID, status="removing", started_at=stamp(5)), "Removal In Progress"),
])
def test_status_strings(runtime: RuntimeState, expected: str) -> None:
    assert status_text(runtime, NOW) == expected


@pytest.mark.parametrize(("seconds", "text"), [
    (0.5, "Less than a second"), (1, "1 second"), (59, "59 seconds"), (60, "About a minute"),
    (119, "About a minute"), (120, "2 minutes"), (3599, "59 minutes"), (3600, "About an hour"),
    (5399, "About an hour"), (5400, "2 hours"), (47 * 3600, "47 hours"),
    (48 * 3600, "2 days"), (14 * 86400, "2 weeks"), (60 * 86400, "2 months"),
    (800 * 86400, "2 years"),
])
def test_human_duration_is_go_units(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_command_line() -> None:
    assert command_line(record(path="echo", args=("hi",))) == "echo hi"
    assert command_line(record(path="/bin/true", args=())) == "/bin/true"
    assert command_line(record(path="sh", args=("-c", "a b"))) == "sh -c 'a b'"


def test_rfc3339_nano_round_trips() -> None:
    ns = 1_700_000_000_123_456_789
    assert rfc3339_nano(ns) == "2023-11-14T22:13:20.123456789Z"
    assert rfc3339_nano(1_700_000_000_000_000_000) == "2023-11-14T22:13:20Z"
    assert rfc3339_nano(1_700_000_000_500_000_000) == "2023-11-14T22:13:20.5Z"
    assert parse_rfc3339("2023-11-14T22:13:20.5Z") == 1_700_000_000.5
    assert parse_rfc3339("2023-11-14T23:13:20+01:00") == 1_700_000_000.0
    assert parse_rfc3339("0001-01-01T00:00:00Z") is None
    assert abs((parse_rfc3339(rfc3339_nano()) or 0) - time.time()) < 2


def test_exec_ids_are_null_when_none_and_listed_otherwise() -> None:
    running = RuntimeState(container_id=ID, status="running", pid=42)
    assert inspect_json(record(), running)["ExecIDs"] is None
    listed = inspect_json(record(), running, exec_ids=["e" * 64])
    assert listed["ExecIDs"] == ["e" * 64]
    assert validate_response(listed, "/containers/{id}/json") == []
