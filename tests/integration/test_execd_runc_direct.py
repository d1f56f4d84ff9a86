"""execd starts and forgets runc containers without running runc, as runc would.

Real runc containers on a busybox rootfs, in a temporary ``--root`` and a
cgroup parent of their own. A started container runs its process and runc
itself sees it running; a forgotten one is no longer listed by runc and its
cgroup directories are left to cgroupd, their owner. Containers that runc must
handle itself (still running, sharing the host's PID namespace, an init that
died before its start) are left to it, and :class:`Runc` still gets its answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from services.cgroupd.driver import rmdir_tree
from services.common.errors import DockyardError
from services.execd.runc import Runc, RuncError
from services.execd.runc_direct import forget_stopped, start_created
from tests.support.busybox import cached_busybox_rootfs_tar

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(shutil.which("runc") is None, reason="needs runc"),
]

CGROUP_ROOT = Path("/sys/fs/cgroup")


@pytest.fixture(scope="module")
def rootfs_tar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cached_busybox_rootfs_tar(tmp_path_factory.mktemp("busybox-cache"))


@pytest.fixture
def bundle(tmp_path: Path, rootfs_tar: Path) -> Path:
    root = tmp_path / "bundle" / "rootfs"
    root.mkdir(parents=True)
    with tarfile.open(rootfs_tar) as archive:
        archive.extractall(root, filter="tar")
    return root.parent


@pytest.fixture
def cgroup_parent() -> Iterator[str]:
    parent = f"dockyard-forgettest-{secrets.token_hex(4)}"
    yield parent
    for hierarchy in [CGROUP_ROOT, *CGROUP_ROOT.iterdir()]:
        with contextlib.suppress(DockyardError, OSError):
            if (hierarchy / parent).is_dir():
                rmdir_tree(hierarchy / parent)


@pytest.fixture
def runc(tmp_path: Path) -> Iterator[Runc]:
    state = tmp_path / "runc"
    state.mkdir()
    yield Runc(shutil.which("runc") or "runc", state)
    for leftover in state.iterdir():
        subprocess.run(["runc", "--root", str(state), "delete", "--force", leftover.name],
                       capture_output=True, check=False)


def run_detached(runc: Runc, bundle: Path, cgroup_parent: str, args: list[str],
                 *, own_pid_namespace: bool = True, command: str = "run") -> tuple[str, int]:
    """``runc run -d`` (or ``runc create``) of ``args``; (container name, init pid)."""
    subprocess.run(["runc", "spec", "--bundle", str(bundle)], check=True)
    spec: dict[str, Any] = json.loads((bundle / "config.json").read_text())
    name = f"forgettest-{secrets.token_hex(4)}"
    spec["process"]["terminal"] = False
    spec["process"]["args"] = args
    spec["root"]["readonly"] = False
    spec["linux"]["cgroupsPath"] = f"/{cgroup_parent}/{name}"
    if not own_pid_namespace:
        spec["linux"]["namespaces"] = [n for n in spec["linux"]["namespaces"]
                                       if n["type"] != "pid"]
    (bundle / "config.json").write_text(json.dumps(spec))
    detach = ["-d"] if command == "run" else []
    subprocess.run(["runc", "--root", str(runc.root), command, *detach, "--bundle", str(bundle),
                    name], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, check=True,
                   timeout=60)
    state = json.loads((runc.root / name / "state.json").read_text())
    return name, int(state["init_process_pid"])


def wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists():
        assert time.monotonic() < deadline, f"process {pid} still there"
        time.sleep(0.01)


def cgroup2_mounts() -> list[Path]:
    found = subprocess.run(["findmnt", "-rn", "-t", "cgroup2", "-o", "TARGET"],
                           capture_output=True, text=True, check=False).stdout
    return [Path(line) for line in found.split()]


def cgroup_dirs(cgroup_parent: str, name: str) -> list[Path]:
    return [h / cgroup_parent / name for h in [CGROUP_ROOT, *CGROUP_ROOT.iterdir()]
            if (h / cgroup_parent / name).exists()]


def listed(runc: Runc) -> set[str]:
    out = subprocess.run(["runc", "--root", str(runc.root), "list", "-q"],
                         capture_output=True, text=True, check=True).stdout
    return set(out.split())


def runc_status(runc: Runc, name: str) -> str:
    out = subprocess.run(["runc", "--root", str(runc.root), "state", name],
                         capture_output=True, text=True, check=True).stdout
    return str(json.loads(out)["status"])


def test_a_created_container_is_started(runc: Runc, bundle: Path, cgroup_parent: str) -> None:
    name, pid = run_detached(runc, bundle, cgroup_parent,
                             ["sh", "-c", "echo ran > /ran; exec sleep 30"], command="create")
    assert runc_status(runc, name) == "created"
    assert not (bundle / "rootfs" / "ran").exists()

    assert asyncio.run(start_created(runc.root / name))

    assert runc_status(runc, name) == "running"
    deadline = time.monotonic() + 10
    while not (bundle / "rootfs" / "ran").exists():
        assert time.monotonic() < deadline, "the container's process did not run"
        time.sleep(0.01)
    assert (bundle / "rootfs" / "ran").read_text() == "ran\n"
    assert Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[0] == b"sleep"
    asyncio.run(runc.delete(name))
    assert name not in listed(runc)


def test_a_created_container_whose_init_died_is_refused_by_runc(
    runc: Runc, bundle: Path, cgroup_parent: str
) -> None:
    name, pid = run_detached(runc, bundle, cgroup_parent, ["true"], command="create")
    os.kill(pid, 9)
    wait_gone(pid)

    assert not asyncio.run(start_created(runc.root / name))
    with pytest.raises(RuncError) as raised:
        asyncio.run(runc.start(name))
    assert "stopped" in raised.value.message  # runc's own words
    asyncio.run(runc.delete(name))
    assert name not in listed(runc)
    assert cgroup_dirs(cgroup_parent, name)  # cgroupd's to remove


def test_a_container_runc_does_not_know_cannot_be_started(runc: Runc) -> None:
    with pytest.raises(RuncError) as raised:
        asyncio.run(runc.start("never-made"))
    assert "does not exist" in raised.value.message


def test_an_exited_container_is_forgotten_and_its_cgroup_left_to_cgroupd(
    runc: Runc, bundle: Path, cgroup_parent: str
) -> None:
    name, pid = run_detached(runc, bundle, cgroup_parent, ["true"])
    made = cgroup_dirs(cgroup_parent, name)
    assert made  # runc made them (in Dockyard, cgroupd has, with the limits)
    wait_gone(pid)

    assert forget_stopped(runc.root / name)

    assert name not in listed(runc)
    assert not (runc.root / name).exists()
    # cgroupd's stay; on a hybrid host, the cgroup2 one only runc makes goes.
    hybrid_unified = [h for h in cgroup2_mounts() if h != CGROUP_ROOT]
    assert cgroup_dirs(cgroup_parent, name) == [
        d for d in made if not any(d.is_relative_to(h) for h in hybrid_unified)]


def test_a_running_container_is_left_to_runc(
    runc: Runc, bundle: Path, cgroup_parent: str
) -> None:
    name, pid = run_detached(runc, bundle, cgroup_parent, ["sleep", "30"])

    assert not forget_stopped(runc.root / name)
    assert name in listed(runc)
    assert Path(f"/proc/{pid}").exists()

    asyncio.run(runc.delete(name))  # runc's own delete --force kills it
    wait_gone(pid)
    assert name not in listed(runc)
    assert cgroup_dirs(cgroup_parent, name) == []


def test_an_exited_container_without_its_own_pid_namespace_is_left_to_runc(
    runc: Runc, bundle: Path, cgroup_parent: str
) -> None:
    # Other processes of such a container may outlive its init: runc kills them.
    name, pid = run_detached(runc, bundle, cgroup_parent, ["true"], own_pid_namespace=False)
    wait_gone(pid)

    assert not forget_stopped(runc.root / name)
    assert name in listed(runc)

    asyncio.run(runc.delete(name))
    assert name not in listed(runc)
    assert cgroup_dirs(cgroup_parent, name) == []


def test_a_container_runc_never_knew_is_left_alone(runc: Runc) -> None:
    assert not forget_stopped(runc.root / "never-made")
    asyncio.run(runc.delete("never-made"))  # fine, as before
