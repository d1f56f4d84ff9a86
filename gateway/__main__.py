"""``python -m gateway --config <path>``: serve the Engine API until SIGTERM.

Start-up order: plan every listener (refusing insecure ones before anything is
bound), connect etcd and the service clients, bind, serve. On SIGTERM or
SIGINT the listeners close first, in-flight requests get a grace period, then
the clients close; the exit status is 0.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
from collections.abc import Sequence
from pathlib import Path

from aiohttp import web

from gateway.app import create_app
from gateway.listeners import (
    Listener,
    TcpListener,
    UnixListener,
    bind_unix,
    plan_listeners,
    remove_unix,
    socket_identity,
)
from gateway.metrics import create_metrics_app
from services.common.config import DaemonConfig, load_runtime_config, parse_tcp_address
from services.common.errors import DockyardError
from services.common.grpc_server import STUCK_SECONDS, exit_if_stuck
from services.common.logs import setup_logging

log = logging.getLogger("gateway")

SHUTDOWN_GRACE_SECONDS = 5.0
"""How long in-flight requests may finish after the listeners close."""


async def _start_metrics(config: DaemonConfig) -> web.AppRunner | None:
    if not config.metrics_addr:
        return None
    host, port = parse_tcp_address(config.metrics_addr, what="metrics-addr")
    runner = web.AppRunner(create_metrics_app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    log.info("metrics listen on %s", config.metrics_addr)
    return runner


def _bind_tcp(listener: TcpListener) -> socket.socket:
    family = socket.AF_INET6 if ":" in listener.address else socket.AF_INET
    return socket.create_server((listener.address, listener.port), family=family, backlog=1024)


async def serve(config: DaemonConfig) -> None:
    listeners = plan_listeners(config)
    # Bind first: a taken address fails the gateway at once, before it connects
    # etcd and the services (the launcher then sees a quick crash loop).
    bound: list[tuple[Path, tuple[int, int, int]]] = []
    sockets: list[tuple[Listener, socket.socket]] = []
    runner = web.AppRunner(
        create_app(config), access_log=None, shutdown_timeout=SHUTDOWN_GRACE_SECONDS
    )
    metrics_runner: web.AppRunner | None = None
    set_up = False
    try:
        for listener in listeners:
            if isinstance(listener, UnixListener):
                sockets.append((listener, bind_unix(listener, config.group)))
                bound.append((listener.path, socket_identity(listener.path)))
            else:
                assert isinstance(listener, TcpListener)
                sockets.append((listener, _bind_tcp(listener)))
        await runner.setup()  # connects etcd and the services (the app's cleanup_ctx)
        set_up = True
        for listener, sock in sockets:
            ssl_context = listener.ssl_context if isinstance(listener, TcpListener) else None
            site = web.SockSite(runner, sock, ssl_context=ssl_context)
            await site.start()
            log.info("API listen on %s", listener.host)
        metrics_runner = await _start_metrics(config)

        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        log.info("serving", extra={"pid": os.getpid()})
        await stop.wait()
        log.info("shutting down", extra={"grace_seconds": SHUTDOWN_GRACE_SECONDS})
        # Stopped by a dying launcher, nobody would end a shutdown stuck on an
        # etcd or service that is going too; its socket would block the next up.
        exit_if_stuck(SHUTDOWN_GRACE_SECONDS + STUCK_SECONDS)
    finally:
        if metrics_runner is not None:
            await metrics_runner.cleanup()
        if set_up:
            await runner.cleanup()  # closes listeners, drains requests, closes clients
        for _, sock in sockets:
            sock.close()
        for path, identity in bound:
            remove_unix(path, identity)
    log.info("stopped")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gateway")
    parser.add_argument("--config", required=True, type=Path,
                        help="effective configuration written by `dockyard up` (daemon.json form)")
    args = parser.parse_args(argv)
    setup_logging("gateway")
    try:
        config = load_runtime_config(args.config)
        setup_logging("gateway", "debug" if config.debug else config.log_level)
        asyncio.run(serve(config))
    except DockyardError as exc:
        log.error("cannot start: %s", exc.message)
        return 1
    except OSError as exc:  # e.g. the TCP port is taken
        log.error("cannot start: %s", exc)
        return 1
    finally:
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
