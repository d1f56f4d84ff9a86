"""Bootstrap shared by every gRPC service: one call turns a servicer into a daemon.

:func:`run_service` loads the effective configuration, connects to etcd,
serves on the service's unix socket with the standard health service, server
reflection and the error interceptor, reports SERVING, and on SIGTERM reports
NOT_SERVING and drains in-flight calls before exiting.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from services.common.config import DaemonConfig, load_runtime_config
from services.common.endpoints import service_address, unix_socket_path
from services.common.errors import DockyardError, Unavailable
from services.common.etcd_store import Store, connect_store
from services.common.grpc_errors import ErrorInterceptor
from services.common.logs import setup_logging
from services.common.paths import ClusterPaths

log = logging.getLogger(__name__)

DRAIN_SECONDS = 5.0
STUCK_SECONDS = 5.0
"""After the drain, how long the rest of a stop (closing etcd, tasks) may take."""
ETCD_CONNECT_SECONDS = 15.0


@dataclass(frozen=True)
class ServiceContext:
    """What a service's servicers are built from."""

    name: str
    config: DaemonConfig
    paths: ClusterPaths
    store: Store


Registrar = Callable[[grpc.aio.Server, ServiceContext], Awaitable[Sequence[str]]]
"""Adds a service's servicers to the server; returns their full service names."""


def _claim_socket(path: Path) -> None:
    """Remove a stale socket file; refuse when a live server still answers on it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        return
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink(missing_ok=True)
        return
    finally:
        probe.close()
    raise Unavailable(f"{path} is in use by a running server")


def exit_if_stuck(seconds: float) -> None:
    """End the process if stopping takes longer than ``seconds``.

    A service (or the gateway) stops by itself when its launcher dies (SIGTERM by pdeathsig):
    then nobody would SIGKILL it after a timeout, and a shutdown stuck on a
    call to an etcd that is gone too would keep its socket and block the
    next ``dockyard up``. Containers do not depend on the process.
    """
    def give_up() -> None:
        log.error("stop did not finish in %.0fs; exiting", seconds)
        os._exit(1)

    timer = threading.Timer(seconds, give_up)
    timer.daemon = True
    timer.start()


async def serve(name: str, config: DaemonConfig, register: Registrar) -> None:
    """Serve ``name`` until SIGTERM or SIGINT, then drain and return."""
    paths = ClusterPaths(Path(config.data_root), Path(config.exec_root))
    address = service_address(config, name)
    socket_path = unix_socket_path(address)
    # Refuse before register() runs: a service's start-up may reconcile kernel
    # state, which a second instance must never do beside a live first one.
    if socket_path is not None:
        _claim_socket(socket_path)
    store = await connect_store(config.etcd_endpoints, ETCD_CONNECT_SECONDS)
    server = grpc.aio.server(interceptors=[ErrorInterceptor()])
    health_servicer = health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    try:
        context = ServiceContext(name=name, config=config, paths=paths, store=store)
        service_names = list(await register(server, context))
        reflection.enable_server_reflection(
            [*service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
        )
        if socket_path is not None:
            _claim_socket(socket_path)  # again: a stale file may have appeared meanwhile
        try:
            bound = server.add_insecure_port(address)
        except RuntimeError:  # grpc raises it when the address is taken
            bound = 0
        if bound == 0:
            raise Unavailable(f"cannot listen on {address}: address in use or not permitted")
        await server.start()
        if socket_path is not None:
            socket_path.chmod(0o660)
        for service in ["", *service_names]:
            await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
        log.info("serving", extra={"address": address, "pid": os.getpid()})

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()

        exit_if_stuck(DRAIN_SECONDS + STUCK_SECONDS)
        log.info("draining", extra={"grace_seconds": DRAIN_SECONDS})
        await health_servicer.enter_graceful_shutdown()
        await server.stop(DRAIN_SECONDS)
    finally:
        with contextlib.suppress(Exception):
            await server.stop(None)
        await store.close()
    log.info("stopped")


def run_service(name: str, register: Registrar, argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m services.<name> --config <path>``; returns the exit code."""
    parser = argparse.ArgumentParser(prog=f"python -m services.{name}")
    parser.add_argument("--config", required=True, type=Path,
                        help="effective configuration written by `dockyard up` (daemon.json form)")
    args = parser.parse_args(argv)
    setup_logging(name)
    try:
        config = load_runtime_config(args.config)
        setup_logging(name, "debug" if config.debug else config.log_level)
        asyncio.run(serve(name, config, register))
    except DockyardError as exc:
        log.error("cannot start: %s", exc.message)
        return 1
    finally:
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
    return 0
