"""A generated spec run by the real runc on a busybox rootfs: what a user sees inside.

runc keeps its state in a temporary ``--root``; the container gets a fresh
network namespace (no netns path) and a cgroup under a parent of its own,
removed afterwards in every hierarchy.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.cgroupd.driver import rmdir_tree
from services.common.errors import DockyardError
from services.execd.spec import MountPoint, SpecInputs, build_spec, locate_init_binary
from tests.support.busybox import cached_busybox_rootfs_tar

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(shutil.which("runc") is None, reason="needs runc"),
]

CGROUP_ROOT = Path("/sys/fs/cgroup")
# Docker's 14 default capabilities as the kernel prints them in /proc/<pid>/status.
DEFAULT_CAPS_HEX = "00000000a80425fb"


@pytest.fixture(scope="module")
def rootfs_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cached_busybox_rootfs_tar(tmp_path_factory.mktemp("busybox-cache"))


@pytest.fixture
def rootfs(tmp_path: Path, rootfs_tar: Path) -> Path:
    root = tmp_path / "bundle" / "rootfs"
    root.mkdir(parents=True)
    with tarfile.open(rootfs_tar) as archive:
        archive.extractall(root, filter="tar")
    with (root / "etc" / "group").open("a") as group:
        group.write("staff:x:50:daemon\n")
    return root


@pytest.fixture
def cgroup_parent() -> Iterator[str]:
    parent = f"dockyard-spectest-{secrets.token_hex(4)}"
    yield parent
    for hierarchy in [CGROUP_ROOT, *CGROUP_ROOT.iterdir()]:
        with contextlib.suppress(DockyardError, OSError):
            if (hierarchy / parent).is_dir():
                rmdir_tree(hierarchy / parent)
    leftovers = [h for h in CGROUP_ROOT.iterdir() if (h / parent).exists()]
    assert not leftovers, f"cgroup {parent} left in {leftovers}"


def run(spec: dict[str, Any], bundle: Path, state: Path) -> subprocess.CompletedProcess[str]:
    """``runc run`` the spec in the foreground; the container is gone afterwards."""
    (bundle / "config.json").write_text(json.dumps(spec))
    name = f"spectest-{secrets.token_hex(4)}"
    try:
        return subprocess.run(
            ["runc", "--root", str(state), "run", "--bundle", str(bundle), name],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False,
        )
    finally:
        subprocess.run(["runc", "--root", str(state), "delete", "--force", name],
                       capture_output=True, check=False)


def sections(stdout: str) -> dict[str, str]:
    """Output of the in-container script, split at its ``== name`` headers."""
    found: dict[str, list[str]] = {}
    current = ""
    for line in stdout.splitlines():
        if line.startswith("== "):
            current = line[3:].strip()
            found[current] = []
        elif current:
            found[current].append(line)
    return {key: "\n".join(lines) for key, lines in found.items()}


def status_field(status: str, name: str) -> str:
    for line in status.splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"{name} not in {status!r}")


def mount_options(mounts: str, target: str) -> list[str]:
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[1] == target:
            return fields[3].split(",")
    raise AssertionError(f"{target} not mounted: {mounts}")


SCRIPT = """
echo "== id"; id
echo "== status"; cat /proc/self/status
echo "== hostname"; hostname
echo "== env"; env
echo "== pwd"; pwd
echo "== pid1"; tr '\\0' ' ' < /proc/1/cmdline; echo
echo "== masked"; wc -c < /proc/timer_list
echo "== mounts"; cat /proc/mounts
echo "== sys"; touch /sys/kernel/x 2>&1
echo "== data"; cat /data/hello; touch /data/new 2>&1
echo "== run"; echo ok > /run/file && cat /run/file
echo "== nofile"; ulimit -n
echo "== portstart"; cat /proc/sys/net/ipv4/ip_unprivileged_port_start
echo "== hosts"; cat /etc/hosts
echo "== done"
"""


def test_runc_runs_the_spec_as_docker_would(
    rootfs: Path, tmp_path: Path, cgroup_parent: str
) -> None:
    # The host's /proc/timer_list has content; masked, the container's is empty.
    assert len(Path("/proc/timer_list").read_bytes()) > 0
    data = tmp_path / "data"
    data.mkdir()
    (data / "hello").write_text("from the host\n")
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1\tlocalhost\n10.9.8.7\tspec-test\n")
    container_id = secrets.token_hex(32)
    spec = build_spec(SpecInputs(
        container_id=container_id,
        config={"Cmd": ["sh", "-c", SCRIPT], "Hostname": "spec-test",
                "Env": ["GREETING=hello"], "WorkingDir": "/tmp"},
        host_config={"GroupAdd": ["daemon", "4242"], "Init": True,
                     "SecurityOpt": ["no-new-privileges"], "Tmpfs": {"/run": "size=64k"},
                     "Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 2048}]},
        image_config={"Env": ["PATH=/bin:/sbin:/usr/bin"]},
        rootfs=str(rootfs),
        mounts=(MountPoint("/data", str(data), "bind", read_only=True, propagation="rprivate"),),
        hosts_path=str(hosts),
        cgroups_path=f"/{cgroup_parent}/{container_id}",
        init_path=locate_init_binary(),
    ))
    result = run(spec, rootfs.parent, tmp_path / "runc-state")
    assert result.returncode == 0, result.stderr
    out = sections(result.stdout)
    assert "done" in out, result.stdout + result.stderr

    assert out["id"] == "uid=0(root) gid=0(root) groups=0(root),1(daemon),4242"
    status = out["status"]
    assert status_field(status, "CapEff") == DEFAULT_CAPS_HEX
    assert status_field(status, "CapPrm") == DEFAULT_CAPS_HEX
    assert status_field(status, "CapBnd") == DEFAULT_CAPS_HEX
    assert status_field(status, "CapInh") == "0000000000000000"
    assert status_field(status, "Seccomp") == "2"
    assert status_field(status, "NoNewPrivs") == "1"
    assert out["hostname"] == "spec-test"
    env = out["env"].splitlines()
    assert {"GREETING=hello", "HOSTNAME=spec-test", "PATH=/bin:/sbin:/usr/bin"} <= set(env)
    assert out["pwd"] == "/tmp"
    assert out["pid1"].startswith("/sbin/docker-init -- sh -c")
    assert out["masked"].strip() == "0"

    mounts = out["mounts"]
    assert "ro" in mount_options(mounts, "/sys")
    assert "ro" in mount_options(mounts, "/proc/sys")
    assert "ro" in mount_options(mounts, "/data")
    assert "size=64k" in mount_options(mounts, "/run")
    assert "size=65536k" in mount_options(mounts, "/dev/shm")
    assert "Read-only file system" in out["sys"]
    assert out["data"].splitlines()[0] == "from the host"
    assert "Read-only file system" in out["data"]
    assert not (data / "new").exists()
    assert out["run"] == "ok"
    assert out["nofile"] == "1024"
    assert out["portstart"] == "0"
    assert "10.9.8.7\tspec-test" in out["hosts"]


def test_a_non_root_user_from_a_symlinked_passwd(
    rootfs: Path, tmp_path: Path, cgroup_parent: str
) -> None:
    # The image's passwd lives elsewhere behind an absolute symlink; on the host
    # that path does not exist, so only a resolution inside the rootfs finds it.
    real = rootfs / "lib" / "dockyard-passwd"
    real.parent.mkdir(exist_ok=True)
    (rootfs / "etc" / "passwd").rename(real)
    (rootfs / "etc" / "passwd").symlink_to("/lib/dockyard-passwd")
    assert not Path("/lib/dockyard-passwd").exists()
    container_id = secrets.token_hex(32)
    spec = build_spec(SpecInputs(
        container_id=container_id,
        config={"Cmd": ["sh", "-c", 'echo "== id"; id; echo "== status"; cat /proc/self/status'],
                "User": "daemon"},
        host_config={},
        image_config={},
        rootfs=str(rootfs),
        cgroups_path=f"/{cgroup_parent}/{container_id}",
    ))
    result = run(spec, rootfs.parent, tmp_path / "runc-state")
    assert result.returncode == 0, result.stderr
    out = sections(result.stdout)
    assert out["id"] == "uid=1(daemon) gid=1(daemon) groups=1(daemon),50(staff)"
    # A non-root process keeps the bounding set only, as after execve.
    assert status_field(out["status"], "CapEff") == "0000000000000000"
    assert status_field(out["status"], "CapBnd") == DEFAULT_CAPS_HEX
