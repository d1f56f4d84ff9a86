"""/version and /info: the fields, their spec shape, and answers with services down."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from gateway import partial
from gateway.info_view import registry_config
from gateway.sysinfo import go_arch, parse_mem_total, parse_os_release, rfc3339_nano
from services.common.config import DaemonConfig
from tests.unit.gateway_fakes import (
    CONFIG,
    HOST,
    FakeRuntime,
    FakeStore,
    fake_backends,
    make_app,
    serving,
)
from tests.unit.spec_schema import validate

ALL_SERVICES = ("imaged", "netd", "cgroupd", "execd")


async def _get(path: str, down: tuple[str, ...] = ()) -> dict[str, Any]:
    async with serving(make_app(fake_backends(down))) as client:
        response = await client.get(path)
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        body: dict[str, Any] = await response.json()
        return body


async def test_version_fields_and_spec_shape() -> None:
    body = await _get("/v1.47/version")
    assert validate(body, "SystemVersion") == []
    assert body["Platform"] == {"Name": "Dockyard Engine"}
    assert (body["ApiVersion"], body["MinAPIVersion"], body["Os"]) == ("1.47", "1.24", "linux")
    assert body["Arch"] == "amd64"
    assert body["GoVersion"].startswith("python3.")
    names = [c["Name"] for c in body["Components"]]
    assert names == ["Engine", "etcd", "runc", "conmon"]
    engine = body["Components"][0]
    assert set(engine["Details"]) == {
        "ApiVersion", "Arch", "BuildTime", "Experimental", "GitCommit", "GoVersion",
        "KernelVersion", "MinAPIVersion", "Os",
    }
    runc = body["Components"][2]
    assert runc == {"Name": "runc", "Version": "1.1.5",
                    "Details": {"GitCommit": "v1.1.5-0-gf19387a"}}
    assert body["Components"][1]["Version"] == "3.4.23"


async def test_version_answers_with_services_down() -> None:
    body = await _get("/version", down=("etcd", "execd"))
    assert [c["Name"] for c in body["Components"]] == ["Engine"]
    assert validate(body, "SystemVersion") == []


async def test_info_fields_and_spec_shape() -> None:
    info = await _get("/info")
    assert validate(info, "SystemInfo") == []
    assert uuid.UUID(info["ID"])
    assert (info["Containers"], info["ContainersRunning"], info["ContainersPaused"],
            info["ContainersStopped"]) == (7, 2, 1, 4)
    assert info["Images"] == 3
    assert info["Driver"] == "overlay2"
    assert ["Backing Filesystem", "extfs"] in info["DriverStatus"]
    assert info["DockerRootDir"] == CONFIG.data_root
    assert info["Plugins"]["Network"] == ["bridge", "host", "null"]
    assert info["Plugins"]["Authorization"] is None
    assert (info["CgroupDriver"], info["CgroupVersion"]) == ("cgroupfs", "2")
    assert info["SecurityOptions"] == ["name=seccomp,profile=builtin", "name=cgroupns"]
    assert info["Swarm"]["LocalNodeState"] == "inactive"
    assert (info["NCPU"], info["MemTotal"], info["Architecture"]) == (4, 8 * 1024**3, "x86_64")
    assert info["Runtimes"] == {"runc": {"path": "/usr/sbin/runc"}}
    assert info["RuncCommit"] == {"ID": "v1.1.5-0-gf19387a"}
    assert info["OperatingSystem"] == HOST.operating_system
    assert info["IndexServerAddress"] == "https://index.docker.io/v1/"
    assert info["LiveRestoreEnabled"] is True
    # The fake host lacks bridge-nf-call-ip6tables: dockerd's own warning for it.
    assert info["Warnings"] == ["WARNING: bridge-nf-call-ip6tables is disabled"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)",
                        info["SystemTime"])


@pytest.mark.parametrize("down", [(s,) for s in ALL_SERVICES] + [ALL_SERVICES])
async def test_info_answers_with_services_down(down: tuple[str, ...]) -> None:
    info = await _get("/info", down=down)
    assert validate(info, "SystemInfo") == []
    for service in down:
        assert any(f"service {service} is unavailable" in w for w in info["Warnings"])
    assert info["Driver"] == "overlay2"


async def test_engine_id_is_created_once_and_kept() -> None:
    store = FakeStore()
    ids = []
    for _ in range(2):
        async with serving(make_app(fake_backends(store=store))) as client:
            ids.append((await (await client.get("/info")).json())["ID"])
    assert ids[0] == ids[1]
    assert store.values["engine/id"].decode() == ids[0]


def test_registry_config_splits_cidrs_and_names() -> None:
    config = DaemonConfig(
        insecure_registries=("10.0.0.0/8", "myreg:5000"),
        registry_mirrors=("https://mirror.example",),
    )
    view = registry_config(config)
    assert view["InsecureRegistryCIDRs"] == ["::1/128", "127.0.0.0/8", "10.0.0.0/8"]
    assert view["IndexConfigs"]["myreg:5000"]["Secure"] is False
    assert view["IndexConfigs"]["docker.io"]["Mirrors"] == ["https://mirror.example/"]
    assert view["Mirrors"] == ["https://mirror.example/"]
    assert validate(view, "RegistryServiceConfig") == []


def test_rfc3339_nano_like_go() -> None:
    utc = datetime(2024, 5, 1, 10, 0, 0, tzinfo=UTC)
    assert rfc3339_nano(utc, 123_400_000) == "2024-05-01T10:00:00.1234Z"
    assert rfc3339_nano(utc, 0) == "2024-05-01T10:00:00Z"
    plus2 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=timezone(timedelta(hours=2)))
    assert rfc3339_nano(plus2, 5) == "2024-05-01T12:00:00.000000005+02:00"
    minus = datetime(2024, 5, 1, 5, 0, 0, tzinfo=timezone(timedelta(hours=-5, minutes=-30)))
    assert rfc3339_nano(minus, 0) == "2024-05-01T05:00:00-05:30"


def test_host_fact_parsers() -> None:
    release = parse_os_release('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_ID="12"\n')
    assert release == {"PRETTY_NAME": "Debian GNU/Linux 12 (bookworm)", "VERSION_ID": "12"}
    assert parse_mem_total("MemTotal:       16318412 kB\nMemFree: 1 kB\n") == 16318412 * 1024
    assert (go_arch("x86_64"), go_arch("aarch64"), go_arch("mips")) == ("amd64", "arm64", "mips")


async def test_a_slow_service_is_left_out_not_waited_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class SlowRuntime(FakeRuntime):
        async def get_runtime_info(self) -> Any:
            await asyncio.sleep(30)

    monkeypatch.setattr(partial, "SERVICE_TIMEOUT", 0.05)
    backends = dataclasses.replace(fake_backends(), runtime=SlowRuntime())
    async with serving(make_app(backends)) as client:
        info = await (await client.get("/info")).json()
        version = await (await client.get("/version")).json()
    assert any("service execd is unavailable" in w for w in info["Warnings"])
    assert [c["Name"] for c in version["Components"]] == ["Engine", "etcd"]
