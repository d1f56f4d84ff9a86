"""``dockyard up|down|status``: the command line of the launcher.

Every failure a user can cause or fix ends as one line on stderr and exit
status 1, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from launcher import daemonize, preflight, status
from launcher.flags import add_config_flags, load_config, resolve_exec_root
from launcher.pidfile import PidFile, read_live_pid
from launcher.supervisor import Supervisor
from services.common.config import DaemonConfig
from services.common.errors import Conflict, DockyardError, Unavailable
from services.common.logs import setup_logging
from services.common.paths import ClusterPaths

DOWN_TIMEOUT = 90.0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dockyard", description="Run a Dockyard cluster (a Docker-compatible engine)."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    up = commands.add_parser("up", help="start etcd, the services and the gateway")
    up.add_argument("--detach", action="store_true",
                    help="run in the background; return once the cluster serves")
    # Internal: the pipe on which a detached launcher reports readiness.
    up.add_argument("--ready-fd", type=int, default=None, help=argparse.SUPPRESS)
    add_config_flags(up)
    up.set_defaults(func=cmd_up)

    down = commands.add_parser("down", help="stop the cluster started by `dockyard up`")
    down.add_argument("--exec-root", default=None, help="exec-root of the cluster")
    down.add_argument("--config-file", default=None, help="daemon.json naming the exec-root")
    down.add_argument("--timeout", type=float, default=DOWN_TIMEOUT,
                      help=f"seconds to wait for the launcher to exit (default {DOWN_TIMEOUT:.0f})")
    down.set_defaults(func=cmd_down)

    stat = commands.add_parser("status", help="show each component's pid, health and uptime")
    stat.add_argument("--exec-root", default=None, help="exec-root of the cluster")
    stat.add_argument("--config-file", default=None, help="daemon.json naming the exec-root")
    stat.add_argument("--format", choices=("table", "json"), default="table")
    stat.set_defaults(func=cmd_status)
    return parser


def _export_line(config: DaemonConfig) -> str:
    return f"export DOCKER_HOST={config.hosts[0]}"


def _preflight(config: DaemonConfig, paths: ClusterPaths) -> None:
    preflight.require_binaries(config)
    owner = read_live_pid(paths.launcher_pid)
    if owner is not None:
        raise Conflict(
            f"another dockyard is running with exec-root {paths.exec_root} (pid {owner})"
        )
    preflight.claim_hosts(config.hosts)


def _background_argv(argv: Sequence[str]) -> list[str]:
    # The same command line minus --detach: the background launcher must run
    # in the foreground of its own session.
    return [arg for arg in argv if arg != "--detach"]


def cmd_up(args: argparse.Namespace, argv: Sequence[str]) -> int:
    preflight.require_root("up")
    config = load_config(args)
    paths = ClusterPaths(Path(config.data_root), Path(config.exec_root))
    _preflight(config, paths)
    if args.detach:
        daemonize.run_detached(_background_argv(argv), paths.logs_dir / "dockyard.log")
        print(_export_line(config), flush=True)
        return 0

    pid_file = PidFile.acquire(paths.launcher_pid)
    try:
        setup_logging("launcher", "debug" if config.debug else config.log_level)
        os.chdir("/")
        failure: list[str] = []

        def on_ready(reason: str | None) -> None:
            if args.ready_fd is not None:
                daemonize.notify(args.ready_fd, reason)
            if reason is not None:
                failure.append(reason)
            elif args.ready_fd is None:
                print(_export_line(config), flush=True)

        code = asyncio.run(Supervisor(config).run(on_ready))
        if failure and args.ready_fd is None:
            raise Unavailable(failure[0])
        return code
    finally:
        with contextlib.suppress(OSError):
            paths.launcher_state.unlink()
        pid_file.release()


def _wait_gone(pid_path: Path, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while read_live_pid(pid_path) is not None:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def cmd_down(args: argparse.Namespace, argv: Sequence[str]) -> int:
    preflight.require_root("down")
    exec_root = resolve_exec_root(args.exec_root, args.config_file)
    pid_path = exec_root / "dockyard.pid"
    pid = read_live_pid(pid_path)
    if pid is None:
        print(f"dockyard is not running (exec-root {exec_root})", file=sys.stderr)
        return 0
    # The launcher stops its children in order, then exits and drops its lock.
    os.kill(pid, signal.SIGTERM)
    if _wait_gone(pid_path, args.timeout):
        return 0
    # Last resort: the children get SIGTERM from the kernel when it dies (pdeathsig).
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    _wait_gone(pid_path, 5.0)
    raise Unavailable(f"dockyard (pid {pid}) did not stop within {args.timeout:.0f}s; killed it")


def cmd_status(args: argparse.Namespace, argv: Sequence[str]) -> int:
    exec_root = resolve_exec_root(args.exec_root, args.config_file)
    report = asyncio.run(status.collect(exec_root))
    text = status.render(report, args.format)
    print(text, file=sys.stdout if report["running"] or args.format == "json" else sys.stderr)
    return 0 if report["running"] else 1


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(args_list)
    try:
        code: int = args.func(args, args_list)
        return code
    except DockyardError as exc:
        if getattr(args, "ready_fd", None) is not None:
            daemonize.notify(args.ready_fd, exc.message)
        print(f"dockyard: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
