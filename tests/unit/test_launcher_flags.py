"""dockerd-style flags → daemon.json settings, and their merge with the file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from launcher.cli import build_parser
from launcher.flags import flags_to_settings, load_config, parse_bool, resolve_exec_root
from services.common.errors import InvalidArgument


def parse_up(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["up", *argv])


def test_no_flags_no_settings() -> None:
    assert flags_to_settings(vars(parse_up())) == {}


def test_flags_become_daemon_json_keys() -> None:
    args = parse_up(
        "--data-root", "/srv/dy", "--exec-root", "/run/dy",
        "-H", "unix:///run/dy/docker.sock", "--host", "tcp://127.0.0.1:2376",
        "--etcd-endpoints", "http://10.0.0.1:2379, http://10.0.0.2:2379,",
        "--bip", "10.50.0.1/24", "--iptables=false", "--tlsverify",
        "--tlscacert", "/etc/ca.pem", "--metrics-addr", "127.0.0.1:9323",
        "--insecure-registry", "localhost:5000", "--insecure-registry", "reg:5000",
        "--exec-opt", "native.cgroupdriver=cgroupfs", "-D",
        "--default-address-pool", "base=10.10.0.0/16,size=24",
    )
    assert flags_to_settings(vars(args)) == {
        "data-root": "/srv/dy",
        "exec-root": "/run/dy",
        "hosts": ["unix:///run/dy/docker.sock", "tcp://127.0.0.1:2376"],
        "etcd-endpoints": ["http://10.0.0.1:2379", "http://10.0.0.2:2379"],
        "bip": "10.50.0.1/24",
        "iptables": False,
        "tlsverify": True,
        "tlscacert": "/etc/ca.pem",
        "metrics-addr": "127.0.0.1:9323",
        "insecure-registries": ["localhost:5000", "reg:5000"],
        "exec-opts": ["native.cgroupdriver=cgroupfs"],
        "debug": True,
        "default-address-pools": [{"base": "10.10.0.0/16", "size": 24}],
    }


def test_relative_roots_become_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = flags_to_settings(vars(parse_up("--data-root", "data")))
    assert settings["data-root"] == str(tmp_path.resolve() / "data")


@pytest.mark.parametrize(("text", "value"), [
    ("true", True), ("1", True), ("T", True), ("false", False), ("0", False), ("F", False),
])
def test_parse_bool(text: str, value: bool) -> None:
    assert parse_bool(text) is value


def test_bad_bool_is_a_usage_error() -> None:
    with pytest.raises(SystemExit):
        parse_up("--iptables=maybe")


def test_bad_address_pool() -> None:
    with pytest.raises(InvalidArgument, match="default-address-pool"):
        flags_to_settings(vars(parse_up("--default-address-pool", "10.0.0.0/8")))


def test_file_and_flags_merge(tmp_path: Path) -> None:
    config_file = tmp_path / "daemon.json"
    config_file.write_text(json.dumps({"bip": "10.60.0.1/24", "insecure-registries": ["r:5000"]}))
    config = load_config(parse_up("--config-file", str(config_file), "--data-root", "/srv/dy"))
    assert config.bip == "10.60.0.1/24"
    assert config.insecure_registries == ("r:5000",)
    assert config.data_root == "/srv/dy"
    assert config.exec_root == "/run/dockyard"
    assert config.hosts == ("unix:///run/dockyard/docker.sock",)


def test_key_in_file_and_flag_is_an_error(tmp_path: Path) -> None:
    config_file = tmp_path / "daemon.json"
    config_file.write_text(json.dumps({"bip": "10.60.0.1/24"}))
    with pytest.raises(InvalidArgument, match="specified both as a flag and in the configuration"):
        load_config(parse_up("--config-file", str(config_file), "--bip", "10.61.0.1/24"))


def test_unknown_key_in_file(tmp_path: Path) -> None:
    config_file = tmp_path / "daemon.json"
    config_file.write_text(json.dumps({"foo": 1}))
    with pytest.raises(InvalidArgument,
                       match="the following directives don't match any configuration option: foo"):
        load_config(parse_up("--config-file", str(config_file)))


def test_explicit_config_file_must_exist(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"missing\.json"):
        load_config(parse_up("--config-file", str(tmp_path / "missing.json")))


def test_exec_root_for_down_and_status(tmp_path: Path) -> None:
    config_file = tmp_path / "daemon.json"
    config_file.write_text(json.dumps({"exec-root": "/run/other"}))
    assert resolve_exec_root(None, str(config_file)) == Path("/run/other")
    assert resolve_exec_root("/run/flag", str(config_file)) == Path("/run/flag")
