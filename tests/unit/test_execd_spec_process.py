"""process.* of the generated spec: command, environment, cwd, TTY, caps, limits, init.

Expectations are dockerd's behaviour (moby daemon/oci_linux.go, daemon/commit.go
merge, container.CreateDaemonEnvironment, oci/caps), written out by hand.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from services.common.errors import InvalidArgument, Unavailable
from services.execd.spec import build_spec, merge_image_config
from services.execd.spec.initbinary import locate_init_binary
from services.execd.spec.process import DEFAULT_PATH, replace_or_append_env
from tests.unit.execd_spec_helpers import (
    CONTAINER_ID,
    DEFAULT_CAPS,
    make_inputs,
    make_rootfs,
    mount_at,
)


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    return make_rootfs(tmp_path / "rootfs")


# --- command ---------------------------------------------------------------


@pytest.mark.parametrize(("config", "image", "args"), [
    # Cmd given: replaces the image's Cmd, keeps its Entrypoint.
    ({"Cmd": ["ls", "-l"]}, {"Entrypoint": ["/entry"], "Cmd": ["default"]},
     ["/entry", "ls", "-l"]),
    # Nothing given: the image's Entrypoint + Cmd.
    ({}, {"Entrypoint": ["/entry", "-x"], "Cmd": ["default"]}, ["/entry", "-x", "default"]),
    # --entrypoint: the image's Cmd is dropped, not appended.
    ({"Entrypoint": ["/bin/echo"]}, {"Entrypoint": ["/entry"], "Cmd": ["default"]},
     ["/bin/echo"]),
    ({"Entrypoint": ["/bin/echo"], "Cmd": ["hi"]}, {"Cmd": ["default"]}, ["/bin/echo", "hi"]),
    # --entrypoint "" (the CLI sends [""]): no entrypoint, the image's Cmd.
    ({"Entrypoint": [""]}, {"Entrypoint": ["/entry"], "Cmd": ["sh"]}, ["sh"]),
    ({"Entrypoint": [""], "Cmd": ["id"]}, {"Entrypoint": ["/entry"], "Cmd": ["sh"]}, ["id"]),
    # A string is a one-element StrSlice.
    ({"Entrypoint": "/bin/true", "Cmd": None}, {}, ["/bin/true"]),
])
def test_args_apply_image_defaults_as_dockerd_merges(
    rootfs: Path, config: dict[str, Any], image: dict[str, Any], args: list[str]
) -> None:
    config = {"Cmd": None, **config}
    spec = build_spec(make_inputs(rootfs, config=config, image_config=image))
    assert spec["process"]["args"] == args


def test_no_command_is_dockers_error(rootfs: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"^No command specified$"):
        build_spec(make_inputs(rootfs, config={"Cmd": None}, image_config={}))


def test_merge_is_idempotent_for_a_config_merged_at_create() -> None:
    image = {"Entrypoint": ["/e"], "Cmd": ["c"], "Env": ["A=1", "B=2"], "WorkingDir": "/w",
             "User": "app", "Labels": {"x": "1"}, "ExposedPorts": {"80/tcp": {}}}
    once = merge_image_config({"Env": ["B=3"], "Labels": {"y": "2"}}, image)
    assert once["Env"] == ["B=3", "A=1"]
    assert once["Labels"] == {"x": "1", "y": "2"}
    assert (once["Entrypoint"], once["Cmd"], once["WorkingDir"], once["User"]) == (
        ["/e"], ["c"], "/w", "app")
    assert merge_image_config(once, image) == once


# --- environment -----------------------------------------------------------


def test_env_defaults_then_image_then_container(rootfs: Path) -> None:
    spec = build_spec(make_inputs(
        rootfs,
        config={"Env": ["FOO=container", "NEW=1"], "Tty": True},
        image_config={"Env": ["PATH=/opt/bin:/usr/bin", "FOO=image", "IMG=1"]},
    ))
    assert spec["process"]["env"] == [
        "PATH=/opt/bin:/usr/bin",
        f"HOSTNAME={CONTAINER_ID[:12]}",
        "TERM=xterm",
        "FOO=container",
        "NEW=1",
        "IMG=1",
    ]


def test_env_without_path_gets_dockers_default_and_no_term_without_tty(rootfs: Path) -> None:
    spec = build_spec(make_inputs(rootfs, config={"Env": ["A=b=c"], "Hostname": "web"}))
    assert spec["process"]["env"] == [f"PATH={DEFAULT_PATH}", "HOSTNAME=web", "A=b=c"]


@pytest.mark.parametrize(("config", "message"), [
    ({"Env": ["=value"]}, "invalid environment variable: name cannot be empty"),
    ({"Env": ["A=b\x00c"]}, "invalid environment variable 'A': value contains nul byte"),
    ({"Cmd": ["echo", "a\x00b"]}, "contains a nul byte"),
])
def test_env_and_args_runc_would_refuse(
    rootfs: Path, config: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidArgument, match=re.escape(message)):
        build_spec(make_inputs(rootfs, config=config))


def test_annotations(rootfs: Path) -> None:
    assert "annotations" not in build_spec(make_inputs(rootfs))
    spec = build_spec(make_inputs(rootfs, host_config={"Annotations": {"a.b/c": "d"}}))
    assert spec["annotations"] == {"a.b/c": "d"}


def test_env_bare_name_unsets_a_default_and_duplicates_stay() -> None:
    assert replace_or_append_env(["PATH=/bin", "HOSTNAME=h"], ["PATH", "X=1", "X=2", "GONE"]) == [
        "HOSTNAME=h", "X=1", "X=2"]
    assert replace_or_append_env(["PATH=/bin"], ["PATH", "PATH=/x"]) == ["PATH=/x"]


# --- cwd, hostname, tty ------------------------------------------------------


def test_cwd_from_container_then_image_then_root(rootfs: Path) -> None:
    assert build_spec(make_inputs(rootfs))["process"]["cwd"] == "/"
    image = {"WorkingDir": "/srv"}
    assert build_spec(make_inputs(rootfs, image_config=image))["process"]["cwd"] == "/srv"
    spec = build_spec(make_inputs(rootfs, config={"WorkingDir": "/app"}, image_config=image))
    assert spec["process"]["cwd"] == "/app"


@pytest.mark.parametrize(("workdir", "message"), [
    ("relative/dir", "the working directory 'relative/dir' is invalid, it needs to be an "
                     "absolute path"),
    ("/proc/self/fd/7", "is inside /proc"),
    ("/proc", "is inside /proc"),
])
def test_bad_working_dirs_are_refused(rootfs: Path, workdir: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        build_spec(make_inputs(rootfs, config={"WorkingDir": workdir}))


def test_hostname_defaults(rootfs: Path) -> None:
    assert build_spec(make_inputs(rootfs))["hostname"] == CONTAINER_ID[:12]
    named = build_spec(make_inputs(rootfs, config={"Hostname": "db"}))
    assert named["hostname"] == "db"
    on_host = build_spec(make_inputs(rootfs, network_mode="host"))
    assert on_host["hostname"] == "buildhost"
    assert "HOSTNAME=buildhost" in on_host["process"]["env"]


def test_terminal_and_console_size(rootfs: Path) -> None:
    plain = build_spec(make_inputs(rootfs, host_config={"ConsoleSize": [40, 120]}))
    assert plain["process"]["terminal"] is False
    assert "consoleSize" not in plain["process"]
    tty = build_spec(make_inputs(rootfs, config={"Tty": True},
                                 host_config={"ConsoleSize": [40, 120]}))
    assert tty["process"]["terminal"] is True
    assert tty["process"]["consoleSize"] == {"height": 40, "width": 120}
    unsized = build_spec(make_inputs(rootfs, config={"Tty": True},
                                     host_config={"ConsoleSize": [0, 0]}))
    assert "consoleSize" not in unsized["process"]


# --- capabilities --------------------------------------------------------------


def caps_of(spec: dict[str, Any]) -> list[str]:
    sets = spec["process"]["capabilities"]
    assert sets["bounding"] == sets["effective"] == sets["permitted"]
    assert "inheritable" not in sets and "ambient" not in sets
    return list(sets["bounding"])


def test_default_capabilities_are_dockers_14(rootfs: Path) -> None:
    assert caps_of(build_spec(make_inputs(rootfs))) == DEFAULT_CAPS


def test_non_root_user_gets_only_the_bounding_set(rootfs: Path) -> None:
    spec = build_spec(make_inputs(rootfs, config={"User": "app"}))
    assert spec["process"]["capabilities"] == {"bounding": DEFAULT_CAPS}
    numeric = build_spec(make_inputs(rootfs, config={"User": "0:1000"}))
    assert caps_of(numeric) == DEFAULT_CAPS


def test_cap_add_and_drop_any_spelling(rootfs: Path) -> None:
    spec = build_spec(make_inputs(rootfs, host_config={
        "CapAdd": ["sys_admin", "CAP_NET_ADMIN"], "CapDrop": ["net_raw", "Cap_Mknod"]}))
    expected = [c for c in DEFAULT_CAPS if c not in ("CAP_NET_RAW", "CAP_MKNOD")]
    assert caps_of(spec) == [*expected, "CAP_SYS_ADMIN", "CAP_NET_ADMIN"]


def test_cap_drop_all_keeps_only_the_added(rootfs: Path) -> None:
    spec = build_spec(make_inputs(rootfs, host_config={"CapDrop": ["ALL"], "CapAdd": ["chown"]}))
    assert caps_of(spec) == ["CAP_CHOWN"]
    none = build_spec(make_inputs(rootfs, host_config={"CapDrop": ["all"]}))
    assert caps_of(none) == []


def test_cap_add_all_gives_every_known_cap_but_the_dropped(rootfs: Path) -> None:
    spec = build_spec(make_inputs(rootfs, host_config={"CapAdd": ["ALL"], "CapDrop": ["MKNOD"]}))
    caps = caps_of(spec)
    assert len(caps) == 40 and "CAP_MKNOD" not in caps
    assert caps[0] == "CAP_CHOWN" and caps[-1] == "CAP_CHECKPOINT_RESTORE"


@pytest.mark.parametrize(("host_config", "message"), [
    ({"CapAdd": ["CAP_FOO"]}, 'invalid CapAdd: unknown capability: "CAP_FOO"'),
    ({"CapAdd": ["foo"]}, 'invalid CapAdd: unknown capability: "CAP_FOO"'),
    ({"CapDrop": ["bar"]}, 'invalid CapDrop: unknown capability: "CAP_BAR"'),
])
def test_unknown_capability_is_dockers_error(
    rootfs: Path, host_config: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        build_spec(make_inputs(rootfs, host_config=host_config))
    assert caught.value.message == message


def test_privileged_has_every_cap_no_seccomp_no_masks_rw_sys(rootfs: Path) -> None:
    spec = build_spec(make_inputs(rootfs, host_config={"Privileged": True,
                                                        "CapDrop": ["CHOWN"]}))
    assert len(caps_of(spec)) == 41
    assert "seccomp" not in spec["linux"]
    assert spec["linux"]["maskedPaths"] == [] and spec["linux"]["readonlyPaths"] == []
    assert "ro" not in mount_at(spec, "/sys")["options"]
    assert "ro" not in mount_at(spec, "/sys/fs/cgroup")["options"]
    assert spec["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]


# --- security options ------------------------------------------------------------


@pytest.mark.parametrize(("opts", "nnp"), [
    ([], False),
    (["no-new-privileges"], True),
    (["no-new-privileges:true"], True),
    (["no-new-privileges=true"], True),
    (["no-new-privileges=false"], False),
    (["no-new-privileges", "no-new-privileges=0"], False),
    (["apparmor=unconfined", "label=disable"], False),
])
def test_no_new_privileges(rootfs: Path, opts: list[str], nnp: bool) -> None:
    spec = build_spec(make_inputs(rootfs, host_config={"SecurityOpt": opts}))
    assert spec["process"].get("noNewPrivileges", False) is nnp
    assert "apparmorProfile" not in spec["process"]


def test_daemon_no_new_privileges_is_the_default(rootfs: Path) -> None:
    spec = build_spec(make_inputs(rootfs, daemon_no_new_privileges=True))
    assert spec["process"]["noNewPrivileges"] is True
    off = build_spec(make_inputs(rootfs, daemon_no_new_privileges=True,
                                 host_config={"SecurityOpt": ["no-new-privileges=false"]}))
    assert "noNewPrivileges" not in off["process"]


@pytest.mark.parametrize(("opt", "message"), [
    ("foo", 'invalid --security-opt 1: "foo"'),
    ("foo=bar", 'invalid --security-opt 2: "foo=bar"'),
    ("no-new-privileges=maybe", 'invalid --security-opt 2: "no-new-privileges=maybe"'),
])
def test_bad_security_opt(rootfs: Path, opt: str, message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        build_spec(make_inputs(rootfs, host_config={"SecurityOpt": [opt]}))
    assert caught.value.message == message


# --- rlimits, oom score ------------------------------------------------------------


def test_rlimits_container_first_then_daemon_defaults(rootfs: Path) -> None:
    spec = build_spec(make_inputs(
        rootfs,
        host_config={"Ulimits": [{"Name": "nofile", "Soft": 1024, "Hard": 4096},
                                 {"Name": "core", "Soft": -1, "Hard": -1}]},
        default_ulimits={"nofile": {"Name": "nofile", "Soft": 1, "Hard": 2},
                         "nproc": {"Name": "nproc", "Soft": 100, "Hard": 200}},
    ))
    assert spec["process"]["rlimits"] == [
        {"type": "RLIMIT_NOFILE", "hard": 4096, "soft": 1024},
        {"type": "RLIMIT_CORE", "hard": 2**64 - 1, "soft": 2**64 - 1},
        {"type": "RLIMIT_NPROC", "hard": 200, "soft": 100},
    ]


def test_no_ulimits_no_rlimits_key(rootfs: Path) -> None:
    assert "rlimits" not in build_spec(make_inputs(rootfs))["process"]


@pytest.mark.parametrize(("ulimit", "message"), [
    ({"Name": "files", "Soft": 1, "Hard": 1}, "invalid ulimit type: files"),
    ({"Name": "nofile", "Soft": 10, "Hard": 5},
     "ulimit soft limit must be less than or equal to hard limit: 10 > 5"),
])
def test_bad_ulimit(rootfs: Path, ulimit: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        build_spec(make_inputs(rootfs, host_config={"Ulimits": [ulimit]}))
    assert caught.value.message == message


def test_oom_score_adj(rootfs: Path) -> None:
    assert build_spec(make_inputs(rootfs))["process"]["oomScoreAdj"] == 0
    spec = build_spec(make_inputs(rootfs, host_config={"OomScoreAdj": -500}))
    assert spec["process"]["oomScoreAdj"] == -500
    with pytest.raises(InvalidArgument, match=r"range for oom score adj is \[-1000, 1000\]"):
        build_spec(make_inputs(rootfs, host_config={"OomScoreAdj": 1001}))


# --- init ----------------------------------------------------------------------------


def test_init_wraps_args_and_binds_the_binary(rootfs: Path) -> None:
    spec = build_spec(make_inputs(rootfs, config={"Cmd": ["sleep", "1"]},
                                  host_config={"Init": True}, init_path="/usr/bin/tini-static"))
    assert spec["process"]["args"] == ["/sbin/docker-init", "--", "sleep", "1"]
    assert mount_at(spec, "/sbin/docker-init") == {
        "destination": "/sbin/docker-init", "type": "bind",
        "source": "/usr/bin/tini-static", "options": ["bind", "ro"]}


def test_init_follows_daemon_default_and_needs_a_private_pid_ns(rootfs: Path) -> None:
    daemon_on = build_spec(make_inputs(rootfs, daemon_init=True, init_path="/x/tini"))
    assert daemon_on["process"]["args"][0] == "/sbin/docker-init"
    refused = build_spec(make_inputs(rootfs, daemon_init=True, init_path="/x/tini",
                                     host_config={"Init": False}))
    assert refused["process"]["args"] == ["sh"]
    host_pid = build_spec(make_inputs(rootfs, host_config={"Init": True, "PidMode": "host"},
                                      init_path="/x/tini"))
    assert host_pid["process"]["args"] == ["sh"]
    assert all(m["destination"] != "/sbin/docker-init" for m in host_pid["mounts"])


def test_init_binary_is_located_or_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "tini-static"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert locate_init_binary() == str(fake)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(Unavailable, match="install the Debian package tini"):
        locate_init_binary()
    with pytest.raises(Unavailable, match="init-path /nope"):
        locate_init_binary("/nope")
