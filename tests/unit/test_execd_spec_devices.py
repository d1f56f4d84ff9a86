"""--device, device cgroup rules and --sysctl in the generated spec."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from services.common.errors import InvalidArgument
from services.execd.spec import build_spec
from services.execd.spec.devices import (
    DeviceMapping,
    default_device_rules,
    device_mapping,
    host_devices,
    parse_device_spec,
)
from tests.unit.execd_spec_helpers import V1_HOST, make_inputs, make_rootfs

NULL_RDEV = Path("/dev/null").stat().st_rdev


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    return make_rootfs(tmp_path / "rootfs")


@pytest.mark.parametrize(("spec", "mapping"), [
    ("/dev/sda", DeviceMapping("/dev/sda", "/dev/sda", "rwm")),
    ("/dev/sda:/dev/xvda", DeviceMapping("/dev/sda", "/dev/xvda", "rwm")),
    ("/dev/sda:r", DeviceMapping("/dev/sda", "/dev/sda", "r")),
    ("/dev/sda:/dev/xvda:rw", DeviceMapping("/dev/sda", "/dev/xvda", "rw")),
    ("/dev/sda:mr", DeviceMapping("/dev/sda", "/dev/sda", "mr")),
])
def test_device_spec_parsing(spec: str, mapping: DeviceMapping) -> None:
    assert parse_device_spec(spec) == mapping


@pytest.mark.parametrize(("entry", "message"), [
    ("/a:/b:rw:extra", "invalid device specification: /a:/b:rw:extra"),
    ("/dev/sda:/dev/xvda:rwx", "invalid device mode: rwx"),
    ("/dev/sda:/dev/xvda:rr", "invalid device mode: rr"),
    ("sda", "invalid device specification: sda"),
    ({"PathOnHost": "/dev/null", "PathInContainer": "null"}, "null is not an absolute path"),
])
def test_bad_device_specs(entry: object, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        device_mapping(entry)  # type: ignore[arg-type]


def test_device_node_and_rule_from_the_host(rootfs: Path) -> None:
    spec = build_spec(make_inputs(rootfs, host_config={"Devices": [
        {"PathOnHost": "/dev/null", "PathInContainer": "/dev/mynull", "CgroupPermissions": "rw"},
    ]}))
    assert spec["linux"]["devices"] == [{
        "path": "/dev/mynull", "type": "c", "major": os.major(NULL_RDEV),
        "minor": os.minor(NULL_RDEV), "fileMode": 0o666, "uid": 0, "gid": 0}]
    rules = spec["linux"]["resources"]["devices"]
    assert rules[: len(default_device_rules())] == default_device_rules()
    assert rules[-1] == {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rw"}


def test_default_device_rules_are_dockers(rootfs: Path) -> None:
    spec = build_spec(make_inputs(rootfs))
    assert "devices" not in spec["linux"]
    assert spec["linux"]["resources"]["devices"] == [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 8, "access": "rwm"},
        {"allow": True, "type": "c", "major": 5, "minor": 0, "access": "rwm"},
        {"allow": True, "type": "c", "major": 5, "minor": 1, "access": "rwm"},
        {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "rwm"},
    ]


def test_a_directory_of_devices(rootfs: Path, tmp_path: Path) -> None:
    devdir = tmp_path / "devdir"
    (devdir / "sub").mkdir(parents=True)
    os.mkfifo(devdir / "sub" / "pipe")
    (devdir / "regular").write_text("not a device")
    (devdir / "link").symlink_to("/dev/null")
    spec = build_spec(make_inputs(rootfs, host_config={"Devices": [f"{devdir}:/dev/stuff:r"]}))
    assert [(d["path"], d["type"]) for d in spec["linux"]["devices"]] == [
        ("/dev/stuff/sub/pipe", "p")]
    assert spec["linux"]["resources"]["devices"][-1]["access"] == "r"


@pytest.mark.parametrize(("path", "reason"), [
    ("/nonexistent/dev", "no such file or directory"),
    ("/etc/hostname", "not a device node"),
])
def test_missing_or_non_device_paths(rootfs: Path, path: str, reason: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        build_spec(make_inputs(rootfs, host_config={"Devices": [path]}))
    assert caught.value.message == (
        f'error gathering device information while adding custom device "{path}": {reason}')


def test_device_cgroup_rules(rootfs: Path) -> None:
    spec = build_spec(make_inputs(rootfs, host_config={
        "DeviceCgroupRules": ["c 1:3 mr", "a *:* rwm", "b 8:* r"]}))
    assert spec["linux"]["resources"]["devices"][-3:] == [
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "mr"},
        {"allow": True, "type": "a", "major": -1, "minor": -1, "access": "rwm"},
        {"allow": True, "type": "b", "major": 8, "minor": -1, "access": "r"},
    ]
    with pytest.raises(InvalidArgument, match="invalid device cgroup rule format: 'c 1 rwm'"):
        build_spec(make_inputs(rootfs, host_config={"DeviceCgroupRules": ["c 1 rwm"]}))


def test_privileged_gets_the_hosts_devices(rootfs: Path) -> None:
    devices = host_devices()
    paths = {d["path"] for d in devices}
    assert "/dev/null" in paths
    assert not any(p.startswith(("/dev/pts/", "/dev/shm/")) for p in paths)
    assert "/dev/console" not in paths
    spec = build_spec(make_inputs(rootfs, host_config={"Privileged": True}))
    assert {d["path"] for d in spec["linux"]["devices"]} == paths


# --- sysctls -----------------------------------------------------------------------


def test_default_sysctls_in_a_private_network(rootfs: Path) -> None:
    spec = build_spec(make_inputs(rootfs))
    assert spec["linux"]["sysctl"] == {
        "net.ipv4.ping_group_range": "0 2147483647",
        "net.ipv4.ip_unprivileged_port_start": "0",
    }
    joined = build_spec(make_inputs(rootfs, network_mode="container:abc",
                                    netns_path="/proc/9/ns/net"))
    assert "sysctl" not in joined["linux"]
    old_kernel = replace(V1_HOST, has_ping_group_range=False, has_unprivileged_port_start=False)
    assert "sysctl" not in build_spec(make_inputs(rootfs, host=old_kernel))["linux"]


def test_user_sysctls_and_domainname(rootfs: Path) -> None:
    spec = build_spec(make_inputs(
        rootfs, config={"Domainname": "example.org"},
        host_config={"Sysctls": {"net.ipv4.ip_unprivileged_port_start": "1024",
                                 "kernel.shmmax": "1000", "fs.mqueue.msg_max": "20"}}))
    assert spec["linux"]["sysctl"] == {
        "net.ipv4.ping_group_range": "0 2147483647",
        "net.ipv4.ip_unprivileged_port_start": "1024",
        "kernel.domainname": "example.org",
        "kernel.shmmax": "1000",
        "fs.mqueue.msg_max": "20",
    }


@pytest.mark.parametrize(("fields", "host_config", "message"), [
    ({}, {"Sysctls": {"kernel.pid_max": "5"}},
     'sysctl "kernel.pid_max" is not in a separate kernel namespace'),
    ({}, {"Sysctls": {"vm.swappiness": "5"}},
     'sysctl "vm.swappiness" is not in a separate kernel namespace'),
    ({"network_mode": "host"}, {"Sysctls": {"net.ipv4.ip_forward": "1"}},
     'sysctl "net.ipv4.ip_forward" not allowed in host network namespace'),
    ({}, {"IpcMode": "host", "Sysctls": {"kernel.shmmax": "1"}},
     'sysctl "kernel.shmmax" is not allowed in the hosts ipc namespace'),
    ({}, {"IpcMode": "host", "Sysctls": {"fs.mqueue.msg_max": "1"}},
     'sysctl "fs.mqueue.msg_max" is not allowed in the hosts ipc namespace'),
    ({}, {"Sysctls": {"kernel.hostname": "x"}},
     'sysctl "kernel.hostname" is not allowed as it conflicts with the OCI "hostname" field'),
    ({}, {"UTSMode": "host", "Sysctls": {"kernel.domainname": "x"}},
     'sysctl "kernel.domainname" is not in a separate kernel namespace'),
])
def test_refused_sysctls(
    rootfs: Path, fields: dict[str, Any], host_config: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        build_spec(make_inputs(rootfs, host_config=host_config, **fields))
    assert caught.value.message == message
