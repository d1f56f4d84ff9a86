"""The create body checks: each bad input gets dockerd's message (a 400)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.containers.validation import (
    HostLimits,
    parse_bind,
    validate_config,
    validate_host_config,
    validate_networking_config,
)
from services.common.errors import InvalidArgument

LIMITS = HostLimits(ncpu=4, runtimes=frozenset({"runc"}))
MB = 1024 * 1024


def host_error(host_config: dict[str, Any]) -> str:
    with pytest.raises(InvalidArgument) as caught:
        validate_host_config(host_config, LIMITS)
    return caught.value.message


def config_error(config: dict[str, Any]) -> str:
    with pytest.raises(InvalidArgument) as caught:
        validate_config(config)
    return caught.value.message


@pytest.mark.parametrize(("host_config", "message"), [
    ({"Memory": -1}, "Minimum memory limit allowed is 6MB"),
    ({"Memory": 4 * MB}, "Minimum memory limit allowed is 6MB"),
    ({"Memory": 64 * MB, "MemorySwap": 32 * MB},
     "Minimum memoryswap limit should be larger than memory limit, see usage"),
    ({"MemorySwap": 32 * MB},
     "You should always set the Memory limit when using Memoryswap limit, see usage"),
    ({"MemorySwappiness": 101}, "Invalid value: 101, valid memory swappiness range is 0-100"),
    ({"MemoryReservation": MB}, "Minimum memory reservation allowed is 6MB"),
    ({"Memory": 8 * MB, "MemoryReservation": 16 * MB},
     "Minimum memory limit can not be less than memory reservation limit, see usage"),
    ({"NanoCpus": 10**9, "CpuPeriod": 100000},
     "Conflicting options: Nano CPUs and CPU Period cannot both be set"),
    ({"NanoCpus": 10**9, "CpuQuota": 50000},
     "Conflicting options: Nano CPUs and CPU Quota cannot both be set"),
    ({"NanoCpus": 5 * 10**9},
     "Range of CPUs is from 0.01 to 4.00, as there are only 4 CPUs available"),
    ({"NanoCpus": -1}, "Range of CPUs is from 0.01 to 4.00, as there are only 4 CPUs available"),
    ({"CpuShares": -2}, "shares: invalid argument"),
    ({"CpuPeriod": 500}, "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s "
                         "(i.e. 1000000)"),
    ({"CpuQuota": 999}, "CPU cfs quota can not be less than 1ms (i.e. 1000)"),
    ({"CpusetCpus": "0-7"}, "Requested CPUs are not available - requested 0-7, available: 0-3"),
    ({"CpusetCpus": "a"}, "Invalid value a for cpuset cpus: invalid format: a"),
    ({"BlkioWeight": 5}, "Range of blkio weight is from 10 to 1000"),
    ({"ShmSize": -1}, "SHM size can not be less than 0"),
    ({"OomScoreAdj": 1001}, "Invalid value 1001, range for oom score adj is [-1000, 1000]"),
    ({"RestartPolicy": {"Name": "sometimes"}}, "invalid restart policy 'sometimes'"),
    ({"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": -1}},
     "maximum retry count cannot be negative"),
    ({"RestartPolicy": {"Name": "always", "MaximumRetryCount": 3}},
     "maximum retry count cannot be used with restart policy 'always'"),
    ({"AutoRemove": True, "RestartPolicy": {"Name": "always"}},
     "can't create 'AutoRemove' container with restart policy"),
    ({"PortBindings": {"80x/tcp": [{"HostPort": "8080"}]}}, 'invalid port specification: "80x"'),
    ({"PortBindings": {"80/tcp": [{"HostPort": "99999"}]}},
     'invalid port specification: "99999"'),
    ({"CapAdd": ["CAP_WIZARDRY"]}, 'invalid CapAdd: unknown capability: "CAP_WIZARDRY"'),
    ({"IpcMode": "weird"}, "invalid IPC mode: weird"),
    ({"PidMode": "container:"}, "invalid PID mode: container:"),
    ({"UTSMode": "private"}, "invalid UTS mode: private"),
    ({"CgroupnsMode": "shared"}, "invalid cgroup namespace mode: shared"),
    ({"Isolation": "hyperv"}, "invalid isolation 'hyperv' on linux"),
    ({"Runtime": "kata"}, "unknown or invalid runtime name: kata"),
    ({"ExtraHosts": ["nohost"]}, 'bad format for add-host: "nohost"'),
    ({"ExtraHosts": ["web:not-an-ip"]}, 'invalid IP address in add-host: "not-an-ip"'),
    ({"Memory": "lots"},
     "json: cannot unmarshal str into Go struct field HostConfig.Memory of type int64"),
])
def test_host_config_errors_use_dockerds_words(host_config: dict[str, Any], message: str) -> None:
    assert host_error(host_config) == message


def test_sane_host_configs_pass() -> None:
    validate_host_config({
        "Memory": 64 * MB, "MemorySwap": -1, "MemorySwappiness": -1, "NanoCpus": 1_500_000_000,
        "CpusetCpus": "0-1,3", "PidsLimit": -1, "RestartPolicy": {"Name": "on-failure",
        "MaximumRetryCount": 3}, "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": ""}],
        "53/udp": [{"HostPort": "5300-5310"}]}, "CapAdd": ["NET_ADMIN", "CAP_SYS_TIME", "ALL"],
        "IpcMode": "container:abc", "ExtraHosts": ["gw:host-gateway", "db:10.0.0.2"],
        "Binds": ["/srv/data:/data:ro,rprivate", "named:/cache"], "Tmpfs": {"/run": "size=1m"},
    }, LIMITS)


def test_mount_binds_must_exist_but_v_binds_need_not(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    assert host_error({"Mounts": [{"Type": "bind", "Source": str(missing), "Target": "/x"}]}) == (
        f'invalid mount config for type "bind": bind source path does not exist: {missing}'
    )
    validate_host_config({"Mounts": [{"Type": "bind", "Source": str(tmp_path), "Target": "/x"}]},
                         LIMITS)
    # -v creates a missing source directory when the container starts, as Docker does.
    validate_host_config({"Binds": [f"{missing}:/x"]}, LIMITS)


@pytest.mark.parametrize(("mount", "message"), [
    ({"Type": "bind", "Source": "/tmp", "Target": "rel"},
     "invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be "
     "absolute"),
    ({"Type": "bind", "Target": "/x"},
     'invalid mount config for type "bind": field Source must not be empty'),
    ({"Type": "bind", "Source": "/tmp"},
     'invalid mount config for type "bind": field Target must not be empty'),
    ({"Type": "tmpfs", "Source": "/tmp", "Target": "/x"},
     'invalid mount config for type "tmpfs": field Source must not be specified'),
    ({"Type": "floppy", "Target": "/x"}, 'invalid mount config for type "floppy": mount type '
                                         "unknown"),
    ({"Type": "volume", "Source": "bad/name", "Target": "/x"},
     'create bad/name: "bad/name" includes invalid characters for a local volume name, only '
     '"[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a host directory, use '
     "absolute path"),
])
def test_bad_mounts(mount: dict[str, Any], message: str) -> None:
    assert host_error({"Mounts": [mount]}) == message


@pytest.mark.parametrize(("bind", "message"), [
    ("/data", "invalid volume specification: '/data'"),
    ("/data:rw", "invalid volume specification: '/data:rw'"),
    ("/src:/dst:bogus", "invalid mode: bogus"),
    ("/src:dst", "invalid mount config for type \"bind\": invalid mount path: 'dst' mount path "
                 "must be absolute"),
    ("./rel:/dst", 'create ./rel: "./rel" includes invalid characters for a local volume name, '
                   'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass a '
                   "host directory, use absolute path"),
    ("/a:/:ro", "invalid mount config for type \"bind\": invalid specification: destination "
                "can't be '/'"),
])
def test_bad_binds(bind: str, message: str) -> None:
    assert host_error({"Binds": [bind]}) == message


def test_bind_parsing() -> None:
    spec = parse_bind("/srv:/data:ro,rshared")
    assert (spec.is_bind, spec.read_only, spec.propagation) == (True, True, "rshared")
    named = parse_bind("cache:/c")
    assert (named.is_bind, named.read_only, named.propagation) == (False, False, "")


def test_duplicate_mount_points() -> None:
    assert host_error({"Binds": ["/a:/data"], "Mounts": [
        {"Type": "tmpfs", "Target": "/data/"}]}) == "Duplicate mount point: /data/"


@pytest.mark.parametrize(("config", "message"), [
    ({"WorkingDir": "rel/dir"},
     "the working directory 'rel/dir' is invalid, it needs to be an absolute path"),
    ({"StopSignal": "SIGBOGUS"}, "Invalid signal: SIGBOGUS"),
    ({"Env": ["=value"]}, "invalid environment variable: =value"),
    ({"Env": [""]}, "invalid environment variable: "),
    ({"Healthcheck": {"Interval": 1000}}, "Interval in Healthcheck cannot be less than 1ms"),
    ({"Healthcheck": {"Retries": -1}}, "Retries in Healthcheck cannot be negative"),
    ({"ExposedPorts": {"http/tcp": {}}}, 'invalid port specification: "http"'),
])
def test_config_errors(config: dict[str, Any], message: str) -> None:
    assert config_error(config) == message


def test_good_config_passes() -> None:
    validate_config({"WorkingDir": "/app", "StopSignal": "SIGUSR1", "Env": ["A=1", "B"],
                     "ExposedPorts": {"80/tcp": {}, "53/udp": {}}, "Cmd": "sh",
                     "Healthcheck": {"Test": ["CMD", "true"], "Interval": 1_000_000_000}})


def test_networking_config_addresses() -> None:
    for settings, message in (
        ({"IPAMConfig": {"IPv4Address": "10.0.0.300"}}, "invalid IPv4 address: 10.0.0.300"),
        ({"IPAMConfig": {"IPv6Address": "10.0.0.3"}}, "invalid IPv6 address: 10.0.0.3"),
        (None, "no EndpointSettings for net"),
    ):
        with pytest.raises(InvalidArgument) as caught:
            validate_networking_config({"EndpointsConfig": {"net": settings}})
        assert caught.value.message == message
