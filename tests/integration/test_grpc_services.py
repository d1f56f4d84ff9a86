"""Each gRPC service as a real process: health, reflection, its RPCs, SIGTERM drain.

Also the error interceptor on a real server: typed errors arrive as status codes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from services.cgroupd.client import CgroupsClient
from services.common import errors
from services.common.grpc_client import call, open_channel
from services.common.grpc_errors import ErrorInterceptor
from services.common.paths import SERVICE_NAMES, ClusterPaths
from services.execd.client import RuntimeClient
from services.imaged.client import ImagesClient
from services.netd.client import NetworksClient
from tests.support.etcd import free_port, running_etcd
from tests.support.netclean import remove_cluster_network, unique_network_settings

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root and real parts")

# netd makes a real default bridge and chains: names of this module's own.
NETWORK_SETTINGS = unique_network_settings()


@pytest.fixture(scope="module")
def cluster_paths() -> Iterator[ClusterPaths]:
    """The four services started by hand (no launcher) on a real etcd."""
    with running_etcd() as etcd_url, tempfile.TemporaryDirectory(prefix="dy-") as tmp:
        paths = ClusterPaths(Path(tmp) / "data", Path(tmp) / "exec")
        config = paths.exec_root / "config.json"
        config.parent.mkdir(parents=True)
        config.write_text(json.dumps({
            "data-root": str(paths.data_root), "exec-root": str(paths.exec_root),
            "etcd-endpoints": [etcd_url], **NETWORK_SETTINGS,
        }))
        procs = {
            name: subprocess.Popen(
                [sys.executable, "-m", f"services.{name}", "--config", str(config)],
                stderr=subprocess.PIPE,
            )
            for name in SERVICE_NAMES
        }
        try:
            deadline = time.monotonic() + 15
            while not all(paths.service_socket(n).exists() for n in SERVICE_NAMES):
                dead = {n: p for n, p in procs.items() if p.poll() is not None}
                if dead or time.monotonic() > deadline:
                    details = {n: p.stderr.read() if p.stderr else b"" for n, p in dead.items()}
                    raise RuntimeError(f"services did not start: {details}")
                time.sleep(0.05)
            yield paths
        finally:
            for proc in procs.values():
                if proc.poll() is None:
                    proc.send_signal(signal.SIGTERM)
            for proc in procs.values():
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            remove_cluster_network(NETWORK_SETTINGS["iptables-chain-prefix"])
            for name, proc in procs.items():
                assert proc.returncode == 0, f"{name} exited {proc.returncode} on SIGTERM"
            for name in SERVICE_NAMES:
                assert not paths.service_socket(name).exists(), f"{name} left its socket"


@pytest.mark.parametrize("name", SERVICE_NAMES)
async def test_health_is_serving(cluster_paths: ClusterPaths, name: str) -> None:
    async with open_channel(cluster_paths.service_target(name)) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize(
    ("name", "service"),
    [
        ("imaged", "dockyard.imaged.v1.Images"),
        ("netd", "dockyard.netd.v1.Networks"),
        ("cgroupd", "dockyard.cgroupd.v1.Cgroups"),
        ("execd", "dockyard.execd.v1.Runtime"),
    ],
)
async def test_reflection_lists_the_service(
    cluster_paths: ClusterPaths, name: str, service: str
) -> None:
    async with open_channel(cluster_paths.service_target(name)) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        names: list[str] = []
        async for reply in stub.ServerReflectionInfo(iter([request]), timeout=5):
            names += [s.name for s in reply.list_services_response.service]
    assert service in names
    assert "grpc.health.v1.Health" in names


async def test_services_answer_with_host_facts(cluster_paths: ClusterPaths) -> None:
    async with open_channel(cluster_paths.service_target("imaged")) as channel:
        store = await ImagesClient(channel).get_store_info()
    assert store.driver == "overlay2"
    assert store.data_root == str(cluster_paths.data_root)
    assert dict(store.driver_status)["Supports d_type"] == "true"

    async with open_channel(cluster_paths.service_target("netd")) as channel:
        net = await NetworksClient(channel).get_network_info()
    assert net.bridge_name == NETWORK_SETTINGS["bridge"]
    assert "bridge" in net.drivers

    async with open_channel(cluster_paths.service_target("cgroupd")) as channel:
        cg = await CgroupsClient(channel).get_host_info()
    expected = "2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "1"
    assert (cg.version, cg.driver, cg.parent) == (expected, "cgroupfs", "dockyard")

    async with open_channel(cluster_paths.service_target("execd")) as channel:
        rt = await RuntimeClient(channel).get_runtime_info()
    runc = subprocess.run(["runc", "--version"], capture_output=True, text=True, check=True)
    assert rt.default_runtime == "runc"
    assert rt.runtimes[0].version.version in runc.stdout.splitlines()[0]
    assert rt.monitor.name == "conmon" and rt.monitor.version != "unknown"
    assert rt.containers_running == 0


async def test_unreachable_service_is_unavailable(tmp_path: Path) -> None:
    async with open_channel(f"unix:{tmp_path}/none.sock") as channel:
        with pytest.raises(errors.Unavailable):
            await NetworksClient(channel, timeout=1).get_network_info()


# --- the interceptor on a real server ------------------------------------------------

def _raise(kind: type[Exception]) -> Any:
    async def unary(request: bytes, context: Any) -> bytes:
        raise kind("thing 'x' is missing")

    return unary


async def _stream_then_fail(request: bytes, context: Any) -> AsyncIterator[bytes]:
    yield b"first"
    raise errors.Conflict("name is taken")


@pytest.fixture
async def error_server(tmp_path: Path) -> AsyncIterator[str]:
    handlers: dict[str, Any] = {
        "NotFound": grpc.unary_unary_rpc_method_handler(_raise(errors.NotFound)),
        "Crash": grpc.unary_unary_rpc_method_handler(_raise(ZeroDivisionError)),
        "Stream": grpc.unary_stream_rpc_method_handler(_stream_then_fail),
    }
    server = grpc.aio.server(interceptors=[ErrorInterceptor()])
    server.add_generic_rpc_handlers([grpc.method_handlers_generic_handler("t.T", handlers)])
    target = f"unix:{tmp_path}/t.sock"
    server.add_insecure_port(target)
    await server.start()
    yield target
    await server.stop(None)


async def test_interceptor_maps_typed_errors(error_server: str) -> None:
    async with open_channel(error_server) as typed_channel:
        channel: Any = typed_channel  # raw byte methods: no generated stubs here
        with pytest.raises(errors.NotFound) as missing:
            await call(lambda: channel.unary_unary("/t.T/NotFound")(b"", timeout=5))
        assert missing.value.message == "thing 'x' is missing"

        with pytest.raises(grpc.aio.AioRpcError) as crash:
            await channel.unary_unary("/t.T/Crash")(b"", timeout=5)
        assert crash.value.code() == grpc.StatusCode.INTERNAL

        stream = channel.unary_stream("/t.T/Stream")(b"", timeout=5)
        received = []
        with pytest.raises(grpc.aio.AioRpcError) as conflict:
            async for item in stream:
                received.append(item)
        assert received == [b"first"]
        assert conflict.value.code() == grpc.StatusCode.ALREADY_EXISTS
        assert conflict.value.details() == "name is taken"


# --- where a service listens -----------------------------------------------------------

def _start(name: str, config: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", f"services.{name}", "--config", str(config)],
        stderr=subprocess.PIPE,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_service_listens_on_a_configured_loopback_port(tmp_path: Path) -> None:
    port = free_port()
    network = unique_network_settings()
    with running_etcd() as etcd_url:
        config = tmp_path / "config.json"
        config.write_text(json.dumps({
            "data-root": str(tmp_path / "d"), "exec-root": str(tmp_path / "e"),
            "etcd-endpoints": [etcd_url], **network,
            "services": {"netd": {"address": f"127.0.0.1:{port}"}},
        }))
        proc = _start("netd", config)
        try:
            with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
                grpc.channel_ready_future(channel).result(timeout=15)
                reply = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(service="dockyard.netd.v1.Networks"), timeout=5
                )
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            assert not (tmp_path / "e/services/netd.sock").exists()
        finally:
            _stop(proc)
            remove_cluster_network(network["iptables-chain-prefix"])


def test_second_instance_on_a_live_socket_refuses(cluster_paths: ClusterPaths) -> None:
    proc = _start("netd", cluster_paths.exec_root / "config.json")
    try:
        _, stderr = proc.communicate(timeout=20)
    finally:
        _stop(proc)
    assert proc.returncode == 1
    assert b"is in use by a running server" in stderr
    # The first instance still answers.
    with grpc.insecure_channel(cluster_paths.service_target("netd")) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_bad_config_is_a_one_line_error(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"no-such-key": 1}))
    proc = _start("imaged", config)
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 1
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert "don't match any configuration option: no-such-key" in lines[0]
