"""Pure parts of the launcher: etcd's command line and ports, log relaying, state, pid lock."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from launcher import etcd_process
from launcher.child import format_line
from launcher.pidfile import PidFile, read_live_pid
from launcher.preflight import claim_hosts, missing_binaries
from launcher.state import ComponentState, LauncherState, load, save
from launcher.status import render
from services.common.config import DaemonConfig
from services.common.errors import Conflict


def test_etcd_argv_is_one_private_member(tmp_path: Path) -> None:
    ports = etcd_process.EtcdPorts(client=23000, peer=23001)
    argv = etcd_process.etcd_argv("/usr/bin/etcd", tmp_path / "etcd", ports)
    assert f"--data-dir={tmp_path / 'etcd'}" in argv
    assert "--listen-client-urls=http://127.0.0.1:23000" in argv
    assert "--initial-cluster=dockyard=http://127.0.0.1:23001" in argv
    assert all("0.0.0.0" not in arg for arg in argv)


def test_etcd_ports_are_kept_across_runs(tmp_path: Path) -> None:
    first = etcd_process.choose_ports(tmp_path)
    assert first.client != first.peer
    assert etcd_process.choose_ports(tmp_path) == first


def test_etcd_ports_change_when_taken(tmp_path: Path) -> None:
    first = etcd_process.choose_ports(tmp_path)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", first.client))
        squatter.listen()
        second = etcd_process.choose_ports(tmp_path)
    assert second.client != first.client
    assert json.loads((tmp_path / etcd_process.PORTS_FILE).read_text())["client"] == second.client


def test_etcd_env_drops_etcd_variables() -> None:
    assert etcd_process.etcd_env({"PATH": "/bin", "ETCD_NAME": "x"}) == {"PATH": "/bin"}


def test_etcd_log_summary() -> None:
    lines = [
        '{"level":"warn","msg":"simple token is not cryptographically signed"}',
        '{"level":"fatal","msg":"discovery failed","error":"listen tcp: address already in use"}',
    ]
    assert etcd_process.summarize_log(lines).endswith(
        "discovery failed: listen tcp: address already in use"
    )


def test_relayed_lines_stay_json_and_name_their_component() -> None:
    assert format_line("imaged", '{"component": "imaged", "msg": "x"}') == (
        '{"component": "imaged", "msg": "x"}'
    )
    assert json.loads(format_line("etcd", '{"msg": "y"}')) == {"component": "etcd", "msg": "y"}
    assert json.loads(format_line("netd", "Traceback (most recent call last):")) == {
        "level": "info", "component": "netd", "msg": "Traceback (most recent call last):"
    }


def test_missing_binaries_are_named() -> None:
    assert missing_binaries(DaemonConfig(), search_path="/nonexistent") == [
        name for name in ["etcd", "runc", "conmon", "setpriv", "iptables"]
        if not (name == "etcd" and os.access("/usr/bin/etcd", os.X_OK))
    ]
    external = DaemonConfig(etcd_endpoints=("http://e:2379",), iptables=False)
    assert missing_binaries(external, search_path="/nonexistent") == [
        "runc", "conmon", "setpriv"
    ]


def test_stale_socket_is_removed_and_live_one_refused(tmp_path: Path) -> None:
    path = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as stale:
        stale.bind(str(path))
    claim_hosts((f"unix://{path}",))
    assert not path.exists()

    with socket.socket(socket.AF_UNIX) as live:
        live.bind(str(path))
        live.listen()
        with pytest.raises(Conflict, match="already running"):
            claim_hosts((f"unix://{path}",))


def test_pid_lock(tmp_path: Path) -> None:
    path = tmp_path / "dockyard.pid"
    assert read_live_pid(path) is None
    held = PidFile.acquire(path)
    assert read_live_pid(path) == os.getpid()
    with pytest.raises(Conflict, match="another dockyard is running"):
        PidFile.acquire(path, wait=0.05)
    held.release()
    assert read_live_pid(path) is None
    assert not path.exists()


def test_stale_pid_file_is_not_alive(tmp_path: Path) -> None:
    path = tmp_path / "dockyard.pid"
    path.write_text("1\n")
    assert read_live_pid(path) is None


def test_state_round_trip(tmp_path: Path) -> None:
    state = LauncherState(
        pid=10, started=1.0, data_root="/d", exec_root="/e", hosts=["unix:///e/s"],
        etcd_endpoints=["http://127.0.0.1:1"], etcd_embedded=True,
        components={"etcd": ComponentState(pid=11, started=2.0, restarts=1, state="running")},
    )
    save(tmp_path / "launcher.json", state)
    assert load(tmp_path / "launcher.json") == state
    assert load(tmp_path / "missing.json") is None


def test_status_table_renders() -> None:
    report = {
        "running": True,
        "launcher": {"pid": 1, "state": "ready", "uptime": 3723.0},
        "hosts": ["unix:///run/dockyard/docker.sock"],
        "components": {"etcd": {"pid": 2, "health": "healthy", "uptime": 61.0,
                                "restarts": 0, "state": "running"}},
    }
    text = render(report, "table")
    assert "1h02m03s" in text
    assert "etcd" in text and "healthy" in text and "1m01s" in text
    assert "not running" in render({"running": False, "exec_root": "/e"}, "table")
