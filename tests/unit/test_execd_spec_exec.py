"""process.json of ``docker exec``: its own command, env, cwd, user, TTY; its container's limits."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.common.errors import InvalidArgument
from services.execd.spec import build_exec_process, build_spec
from services.execd.spec.process import DEFAULT_PATH
from tests.unit.execd_spec_helpers import DEFAULT_CAPS, make_inputs, make_rootfs

CONTAINER = {
    "Cmd": ["sleep", "1000"],
    "Env": ["FOO=container"],
    "Hostname": "box",
    "WorkingDir": "/srv",
    "User": "app",
    "Tty": True,
}
HOST_CONFIG = {
    "CapAdd": ["NET_ADMIN"],
    "SecurityOpt": ["no-new-privileges"],
    "Ulimits": [{"Name": "nofile", "Soft": 100, "Hard": 200}],
    "OomScoreAdj": 300,
    "GroupAdd": ["daemon"],
}


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    return make_rootfs(tmp_path / "rootfs")


def inputs(rootfs: Path):  # type: ignore[no-untyped-def]
    return make_inputs(rootfs, config=CONTAINER, host_config=HOST_CONFIG,
                       image_config={"Env": ["IMG=1"]})


def test_exec_inherits_the_containers_process(rootfs: Path) -> None:
    container = build_spec(inputs(rootfs))["process"]
    process = build_exec_process(inputs(rootfs), {"Cmd": ["ps"], "Env": ["BAR=exec"]})
    assert process == {
        "terminal": False,
        "user": container["user"],
        "args": ["ps"],
        "env": [f"PATH={DEFAULT_PATH}", "HOSTNAME=box", "FOO=container", "IMG=1", "BAR=exec"],
        "cwd": "/srv",
        "capabilities": container["capabilities"],
        "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 200, "soft": 100}],
        "noNewPrivileges": True,
        "oomScoreAdj": 300,
    }
    assert container["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [1000, 10, 29, 1]}
    # A non-root user keeps only the bounding set, as after execve.
    assert process["capabilities"] == {"bounding": [*DEFAULT_CAPS, "CAP_NET_ADMIN"]}


def test_exec_as_root_in_a_non_root_container_has_its_caps(rootfs: Path) -> None:
    process = build_exec_process(inputs(rootfs), {"Cmd": ["sh"], "User": "root"})
    caps = [*DEFAULT_CAPS, "CAP_NET_ADMIN"]
    assert process["capabilities"] == {"bounding": caps, "effective": caps, "permitted": caps}


def test_exec_own_user_workdir_tty_and_env_override(rootfs: Path) -> None:
    process = build_exec_process(inputs(rootfs), {
        "Cmd": ["sh"], "User": "nobody", "WorkingDir": "/tmp", "Tty": True,
        "Env": ["FOO=exec", "TERM=vt100"], "ConsoleSize": [24, 80]})
    assert process["user"] == {"uid": 65534, "gid": 65534, "additionalGids": [65534, 1]}
    assert process["cwd"] == "/tmp"
    assert process["terminal"] is True
    assert process["consoleSize"] == {"height": 24, "width": 80}
    assert process["env"] == [f"PATH={DEFAULT_PATH}", "HOSTNAME=box", "TERM=vt100",
                              "FOO=exec", "IMG=1"]


def test_exec_privileged_gets_every_capability(rootfs: Path) -> None:
    process = build_exec_process(inputs(rootfs), {"Cmd": ["sh"], "Privileged": True})
    assert len(process["capabilities"]["bounding"]) == 41
    assert process["capabilities"]["effective"] == process["capabilities"]["bounding"]
    assert process["capabilities"]["permitted"] == process["capabilities"]["bounding"]


def test_exec_without_command_or_with_unknown_user(rootfs: Path) -> None:
    with pytest.raises(InvalidArgument, match="No exec command specified"):
        build_exec_process(inputs(rootfs), {"Cmd": []})
    with pytest.raises(InvalidArgument, match="unable to find user ghost: no matching entries"):
        build_exec_process(inputs(rootfs), {"Cmd": ["id"], "User": "ghost"})


def test_exec_default_cwd_is_root(rootfs: Path) -> None:
    process = build_exec_process(make_inputs(rootfs), {"Cmd": ["pwd"]})
    assert process["cwd"] == "/"
    assert process["user"] == {"uid": 0, "gid": 0, "additionalGids": [0, 10]}
