"""daemon.json parsing: dockerd's key names, its errors, Dockyard's own keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.common.config import (
    DaemonConfig,
    build_config,
    load_runtime_config,
    merge_file_and_flags,
    read_config_file,
)
from services.common.errors import InvalidArgument


def test_defaults_match_dockerd_layout_under_dockyard_names() -> None:
    config = build_config({})
    assert config.data_root == "/var/lib/dockyard"
    assert config.exec_root == "/run/dockyard"
    assert config.hosts == ("unix:///run/dockyard/docker.sock",)
    assert config.cgroup_driver == "cgroupfs"
    assert config.live_restore is True


def test_unknown_key_is_an_error_naming_it() -> None:
    with pytest.raises(InvalidArgument) as err:
        build_config({"data-root": "/x", "bogus-key": 1, "another": 2}, source="/etc/d.json")
    assert err.value.message == (
        "unable to configure the Dockyard daemon with file /etc/d.json: the following "
        "directives don't match any configuration option: another, bogus-key"
    )


def test_key_in_file_and_flag_is_an_error() -> None:
    with pytest.raises(InvalidArgument) as err:
        merge_file_and_flags({"data-root": "/a"}, {"data-root": "/b"}, source="f.json")
    assert "specified both as a flag and in the configuration file" in err.value.message
    assert "data-root: (from flag: /b, from file: /a)" in err.value.message


def test_dockerd_keys_parse_into_typed_fields() -> None:
    config = build_config(
        {
            "bip": "172.31.0.1/16",
            "default-address-pools": [{"base": "10.77.0.0/16", "size": 24}],
            "insecure-registries": ["myreg:5000"],
            "registry-mirrors": ["http://127.0.0.1:5000"],
            "exec-opts": ["native.cgroupdriver=systemd"],
            "log-opts": {"max-size": "10m"},
            "metrics-addr": "127.0.0.1:9323",
            "etcd-endpoints": ["http://127.0.0.1:2379"],
            "services": {"netd": {"address": "unix:///tmp/netd.sock"}},
            "mtu": 1400,
        }
    )
    assert config.bip == "172.31.0.1/16"
    assert config.default_address_pools[0].size == 24
    assert config.cgroup_driver == "systemd"
    assert config.log_opts == {"max-size": "10m"}
    assert config.extra == {"mtu": 1400}


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"bip": "not-a-cidr"}, "invalid bip"),
        ({"bip": "10.0.0.1"}, "expected an address with a prefix"),
        ({"hosts": ["ftp://x"]}, "expected unix:///path or tcp://host:port"),
        ({"hosts": ["tcp://127.0.0.1"]}, "expected host:port"),
        ({"live-restore": "yes"}, "expected true or false"),
        ({"exec-opts": ["native.cgroupdriver=weird"]}, "native.cgroupdriver option weird"),
        ({"default-address-pools": [{"base": "10.0.0.0/16", "size": 8}]}, "size 8"),
        ({"log-level": "chatty"}, "invalid log-level"),
        ({"metrics-addr": "nope"}, "metrics-addr"),
        ({"data-root": "relative/dir"}, "data-root must be an absolute path"),
        ({"services": {"webd": {}}}, "invalid services entry 'webd'"),
        ({"services": {"netd": {"port": 1}}}, "unknown setting port"),
    ],
)
def test_bad_values_name_the_problem(settings: dict[str, object], fragment: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        build_config(settings)
    assert fragment in err.value.message


def test_file_errors_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "daemon.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidArgument, match="invalid JSON"):
        read_config_file(bad)
    bad.write_text("[1, 2]")
    with pytest.raises(InvalidArgument, match="must hold a JSON object"):
        read_config_file(bad)
    with pytest.raises(InvalidArgument, match="No such file"):
        read_config_file(tmp_path / "missing.json")
    bad.write_text("  ")
    assert read_config_file(bad) == {}


def test_effective_config_round_trips_through_the_children_file(tmp_path: Path) -> None:
    config = build_config(
        {
            "data-root": "/srv/dy",
            "default-address-pools": [{"base": "10.77.0.0/16", "size": 24}],
            "etcd-endpoints": ["http://127.0.0.1:2379"],
            "labels": ["a=b"],
        }
    )
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config.to_json()))
    assert load_runtime_config(path) == config


def test_dataclass_is_frozen() -> None:
    config = DaemonConfig()
    with pytest.raises(AttributeError):
        config.data_root = "/x"  # type: ignore[misc]
