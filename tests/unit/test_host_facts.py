"""Pure parsing of host facts: cgroup layouts, mounts, runtime versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.cgroupd.hostinfo import check_driver, detect
from services.common.errors import InvalidArgument, Unavailable
from services.execd.runtimes import configured_runtimes, locate, parse_version_output
from services.imaged.storeinfo import mount_fstype
from services.netd.hostinfo import sysctl_enabled


def _touch(root: Path, *names: str) -> None:
    for name in names:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text("")


def test_v1_hierarchy_reports_each_controller_it_has(tmp_path: Path) -> None:
    _touch(tmp_path, "memory/memory.limit_in_bytes", "cpu/cpu.shares", "cpu/cpu.cfs_quota_us")
    (tmp_path / "pids").mkdir()
    info = detect("cgroupfs", "dockyard", root=tmp_path)
    assert info.version == "1"
    assert info.memory_limit and info.cpu_shares and info.cpu_cfs_quota and info.pids_limit
    assert not info.swap_limit and not info.cpu_cfs_period and not info.cpuset


def test_v2_unified_hierarchy(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    _touch(tmp_path, "user.slice/memory.swap.max")
    info = detect("cgroupfs", "dockyard", root=tmp_path, proc_self_cgroup="0::/user.slice\n")
    assert info.version == "2"
    assert info.memory_limit and info.swap_limit and info.cpuset and info.pids_limit
    assert info.cpu_shares and info.cpu_cfs_quota
    assert not info.oom_kill_disable and not info.kernel_memory_tcp


def test_v2_without_memory_controller(tmp_path: Path) -> None:
    (tmp_path / "cgroup.controllers").write_text("pids\n")
    info = detect("cgroupfs", "p", root=tmp_path, proc_self_cgroup="0::/\n")
    assert not info.memory_limit and not info.swap_limit and info.pids_limit


def test_systemd_driver_needs_systemd(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="systemd is not running"):
        check_driver("systemd", systemd_marker=tmp_path / "absent")
    check_driver("cgroupfs", systemd_marker=tmp_path / "absent")
    (tmp_path / "present").mkdir()
    check_driver("systemd", systemd_marker=tmp_path / "present")


MOUNTINFO = """\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
30 22 0:26 / /run rw,nosuid shared:5 - tmpfs tmpfs rw
31 22 0:27 / /var/lib/docker\\040data rw shared:6 - xfs /dev/vdb rw
"""


def test_mount_fstype_takes_the_deepest_mount(tmp_path: Path) -> None:
    assert mount_fstype(Path("/var/lib/dockyard"), MOUNTINFO) == "ext4"
    assert mount_fstype(Path("/run/dockyard"), MOUNTINFO) == "tmpfs"
    assert mount_fstype(Path("/var/lib/docker data/x"), MOUNTINFO) == "xfs"
    assert mount_fstype(Path("/running"), MOUNTINFO) == "ext4"


def test_runc_version_output() -> None:
    text = "runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\ngo: go1.19.8\n"
    version = parse_version_output("runc", text)
    assert version.version == "1.1.5+ds1"
    assert version.details["commit"] == "1.1.5+ds1-1+deb12u1"
    assert parse_version_output("conmon", "garbage").version == "unknown"


def test_missing_binary_names_the_debian_package() -> None:
    with pytest.raises(Unavailable, match=r"install the Debian package runc"):
        locate("runc", "/nonexistent/runc")


def test_runtimes_always_include_runc() -> None:
    assert configured_runtimes({"crun": {"path": "/usr/bin/crun"}}) == {
        "runc": "",
        "crun": "/usr/bin/crun",
    }
    with pytest.raises(InvalidArgument, match="invalid runtimes entry"):
        configured_runtimes({"x": "notadict"})


def test_sysctl_reading(tmp_path: Path) -> None:
    (tmp_path / "net/ipv4").mkdir(parents=True)
    (tmp_path / "net/ipv4/ip_forward").write_text("1\n")
    assert sysctl_enabled("net.ipv4.ip_forward", tmp_path)
    assert not sysctl_enabled("net.bridge.bridge-nf-call-iptables", tmp_path)
