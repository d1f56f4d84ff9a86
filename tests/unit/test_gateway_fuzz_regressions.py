"""What fuzzing the Engine API found (tests/e2e/test_api_fuzz.py), each pinned as a 400.

Every case here once answered 500 (a Python error or protobuf's "Value out of
range"), or left a hijacked connection open with no answer.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request

from gateway import query
from gateway.containers.update import decode_update
from gateway.containers.validation import (
    HostLimits,
    console_size,
    validate_config,
    validate_config_types,
    validate_exec_start,
    validate_host_config,
    validate_networking_config,
)
from gateway.network_views import spec_from_body
from gateway.routes.container_lifecycle import _timeout
from gateway.streams.detach import parse_detach_keys
from gateway.streams.logtimes import parse_log_time
from services.common.errors import InvalidArgument
from services.imaged.volumes.names import check_name as check_volume_name
from tests.unit.gateway_fakes import make_app, serving
from tests.unit.test_gateway_containers import backends, post

LIMITS = HostLimits(ncpu=4)
HUGE = 10**30


def refused(call: Any) -> str:
    with pytest.raises(InvalidArgument) as caught:
        call()
    return caught.value.message


# ---- integers in query strings, read as Go's strconv reads them -------------------------


@pytest.mark.parametrize(("text", "reason"), [
    ("", "invalid syntax"), ("abc", "invalid syntax"), ("1.5", "invalid syntax"),
    (" 5", "invalid syntax"), ("1_000", "invalid syntax"), ("\u0665", "invalid syntax"),
    ("9223372036854775808", "value out of range"),
    ("-9223372036854775809", "value out of range"),
])
def test_parse_int_refuses_what_go_refuses(text: str, reason: str) -> None:
    with pytest.raises(query.NumberError) as caught:
        query.parse_int(text)
    assert caught.value.reason == reason


def test_parse_int_takes_signed_64_bit_decimals() -> None:
    assert query.parse_int("+42") == 42
    assert query.parse_int("-9223372036854775808") == -(1 << 63)


@pytest.mark.parametrize("path", ["/v1.47/containers/c1/resize", "/v1.47/exec/e1/resize"])
@pytest.mark.parametrize(("params", "message"), [
    ("h=-100&w=100", 'invalid resize height "-100": value out of range'),
    ("h=100&w=4294967296", 'invalid resize width "4294967296": value out of range'),
    ("h=-70380055422039162880&w=1",
     'invalid resize height "-70380055422039162880": value out of range'),
    ("h=abc&w=1", 'invalid resize height "abc": invalid syntax'),
    ("w=100", 'invalid resize height "": invalid syntax'),
])
async def test_resize_sizes_are_checked_before_anything_else(
        path: str, params: str, message: str) -> None:
    async with serving(make_app()) as client:
        response = await client.post(f"{path}?{params}")
        assert response.status == 400
        assert response.headers["Content-Type"].startswith("application/json")
        assert await response.json() == {"message": message}


def test_stop_timeout_past_64_bits_is_refused() -> None:
    request = make_mocked_request("POST", "/containers/c/stop?t=99999999999999999999999")
    assert refused(lambda: _timeout(request)) == (
        "invalid value for t: '99999999999999999999999': not an integer")


@pytest.mark.parametrize(("t", "seconds"), [
    ("5", 5), ("4294967296", (1 << 31) - 1), ("-1", -1), ("-4294967296", -1),
])
def test_stop_timeouts_beyond_32_bits_mean_the_same_wait(t: str, seconds: int) -> None:
    # The runtime carries 32 bits: 68 years and more is the same wait, negative is forever.
    assert _timeout(make_mocked_request("POST", f"/containers/c/stop?t={t}")) == seconds


def test_log_times_past_64_bit_nanoseconds_are_refused() -> None:
    assert refused(lambda: parse_log_time("6402373705728001")) == (
        "invalid value for since/until: '6402373705728001': value out of range")
    assert parse_log_time("-12200381") == -12200381 * 1_000_000_000


# ---- JSON bodies: a value of the wrong type or size is a 400 ------------------------------


def test_network_config_from_must_be_an_object() -> None:
    assert refused(lambda: spec_from_body({"Name": "n", "ConfigFrom": 0.99999})) == (
        "invalid ConfigFrom: expected an object")
    assert refused(lambda: spec_from_body({"Name": "n", "IPAM": "x"})) == (
        "invalid IPAM: expected an object")


@pytest.mark.parametrize(("config", "message"), [
    ({"Labels": 5}, "invalid Labels: expected an object"),
    ({"Labels": {"a": 1}}, "invalid Labels: expected an object of strings"),
    ({"Volumes": "str"}, "invalid Volumes: expected an object"),
    ({"Volumes": {"/data": 5}}, "invalid Volumes: expected an object of objects"),
    ({"Healthcheck": {"Retries": HUGE}},
     f"json: cannot unmarshal number {HUGE} into Go struct field HealthConfig.Retries "
     "of type int64"),
])
def test_config_field_types(config: dict[str, Any], message: str) -> None:
    assert refused(lambda: validate_config(config)) == message


@pytest.mark.parametrize(("host_config", "message"), [
    ({"LogConfig": "json-file"}, "invalid LogConfig: expected an object"),
    ({"LogConfig": {"Type": 5}}, "invalid Type: expected a string"),
    ({"LogConfig": {"Config": [1]}}, "invalid Config: expected an object"),
    ({"LogConfig": {"Config": {"max-size": 10}}}, "invalid Config: expected an object of strings"),
    ({"Sysctls": {"net.ipv4.ip_forward": 1}}, "invalid Sysctls: expected an object of strings"),
    ({"Tmpfs": {"/run": True}}, "invalid Tmpfs: expected an object of strings"),
    ({"CpuShares": HUGE},
     f"json: cannot unmarshal number {HUGE} into Go struct field HostConfig.CpuShares "
     "of type int64"),
    ({"BlkioWeight": -1},
     "json: cannot unmarshal number -1 into Go struct field HostConfig.BlkioWeight "
     "of type uint16"),
    ({"BlkioDeviceReadBps": [{"Path": "/dev/sda", "Rate": "fast"}]},
     "json: cannot unmarshal str into Go struct field ThrottleDevice.Rate of type uint64"),
    ({"BlkioDeviceWriteIOps": [5]}, "invalid BlkioDeviceWriteIOps: expected a list of objects"),
    ({"ConsoleSize": [HUGE, 5]},
     f"json: cannot unmarshal number {HUGE} into Go struct field HostConfig.ConsoleSize.height "
     "of type uint"),
    ({"ConsoleSize": "80x24"}, "invalid HostConfig.ConsoleSize: expected [height, width]"),
])
def test_host_config_field_types(host_config: dict[str, Any], message: str) -> None:
    assert refused(lambda: validate_host_config(host_config, LIMITS)) == message


@pytest.mark.parametrize(("endpoint", "message"), [
    ({"IPAMConfig": 5}, "invalid IPAMConfig: expected an object"),
    ({"IPAMConfig": {"IPv4Address": 17}}, "invalid IPv4Address: expected a string"),
    ({"IPAMConfig": {"LinkLocalIPs": [1]}}, "invalid LinkLocalIPs: expected a list of strings"),
    ({"Aliases": "web"}, "invalid Aliases: expected a list"),
    ({"DriverOpts": {"a": []}}, "invalid DriverOpts: expected an object of strings"),
])
def test_endpoint_settings_types(endpoint: dict[str, Any], message: str) -> None:
    networking = {"EndpointsConfig": {"backend": endpoint}}
    assert refused(lambda: validate_networking_config(networking)) == message


@pytest.mark.parametrize("field", ["CpuShares", "CpuQuota", "MemorySwap", "PidsLimit"])
def test_update_numbers_past_64_bits(field: str) -> None:
    assert refused(lambda: decode_update({field: HUGE}, LIMITS)) == (
        f"json: cannot unmarshal number {HUGE} into Go struct field HostConfig.{field} "
        "of type int64")


@pytest.mark.parametrize(("body", "message"), [
    ({"ConsoleSize": [HUGE, 5]},
     f"json: cannot unmarshal number {HUGE} into Go struct field "
     "ExecStartCheck.ConsoleSize.height of type uint"),
    ({"ConsoleSize": [-5, 5]},
     "json: cannot unmarshal number -5 into Go struct field "
     "ExecStartCheck.ConsoleSize.height of type uint"),
    ({"ConsoleSize": ["a", 5]},
     "json: cannot unmarshal str into Go struct field "
     "ExecStartCheck.ConsoleSize.height of type uint"),
    ({"ConsoleSize": [1, 2, 3]}, "invalid ExecStartCheck.ConsoleSize: expected [height, width]"),
    ({"Detach": "false"},
     "json: cannot unmarshal str into Go struct field ExecStartCheck.Detach of type bool"),
])
def test_exec_start_body_is_checked_before_the_hijack(body: dict[str, Any], message: str) -> None:
    assert refused(lambda: validate_exec_start(body)) == message


def test_console_sizes_that_fit() -> None:
    assert console_size({"ConsoleSize": [24, 80]}, "ExecConfig") == (24, 80)
    assert console_size({"ConsoleSize": None}, "ExecConfig") is None


async def test_a_commit_body_of_the_wrong_types_commits_nothing() -> None:
    b, _, images = backends()
    async with serving(make_app(b)) as client:
        assert (await post(client, {"Image": "busybox", "Cmd": ["true"]}, "src")).status == 201
        calls = len(images.calls)
        response = await client.post(
            "/v1.47/commit?container=src&pause=0", data=json.dumps({"Labels": 5}),
            headers={"Content-Type": "application/json"})
        assert response.status == 400
        assert await response.json() == {"message": "invalid Labels: expected an object"}
        assert len(images.calls) == calls


@pytest.mark.parametrize("keys", ["\u00e9", "a,\u4e2d", "ctrl-\u00e9"])
def test_detach_keys_outside_one_byte_are_refused(keys: str) -> None:
    assert refused(lambda: parse_detach_keys(keys)).startswith("Invalid detach keys (")


def test_one_byte_detach_keys_still_work() -> None:
    assert parse_detach_keys("a,ctrl-@").sequence == b"a\x00"


def test_a_commit_config_is_held_to_types_only() -> None:
    # dockerd decodes a commit's config without the create checks: only types refuse.
    validate_config_types({"WorkingDir": "relative", "Env": ["=x"]})
    assert refused(lambda: validate_config_types({"Env": [False]})) == (
        "invalid environment variable: False")
    assert refused(lambda: validate_config_types({"Shell": "sh"})) == (
        "invalid Shell: expected a list")
    assert refused(lambda: validate_config_types({"Healthcheck": {"Test": [1]}})) == (
        "invalid Test: expected a list of strings")


def test_volume_names_longer_than_a_directory_name_are_refused() -> None:
    # The volume is a directory named after it: mkdir failed with ENAMETOOLONG (a 500).
    name = "v" * 256
    assert refused(lambda: check_volume_name(name)) == (
        "volume name is too long (256 characters), names should be at most 255 characters")
    assert check_volume_name("v" * 255) == "v" * 255
    expected = (f"create {name}: volume name is too long (256 characters), names should be "
                "at most 255 characters")
    assert refused(lambda: validate_host_config({"Binds": [f"{name}:/data"]}, LIMITS)) == expected
    mount = {"Type": "volume", "Source": name, "Target": "/data"}
    assert expected in refused(lambda: validate_host_config({"Mounts": [mount]}, LIMITS))
