"""Starting a container under conmon, the per-container monitor.

conmon double-forks away from execd, so the container keeps its stdio, log
writer and exit-code recorder while execd restarts. It runs ``runc create``
itself and reports the result on a sync pipe (``_OCI_SYNCPIPE``): one JSON
line, ``{"data": <pid>}`` on success or ``{"data": -1, "message": …}`` with
runc's error. The process then waits for ``runc start``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from services.common.errors import Internal

SYNC_TIMEOUT = 60.0
"""runc create pulls nothing and mounts little; a minute means something hangs."""


class RuntimeCreateError(Exception):
    """runc create failed; ``message`` is runc's own text."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class MonitorOptions:
    container_id: str
    name: str
    bundle: Path
    runtime_path: str
    runc_root: Path
    exits_dir: Path
    log_path: Path
    terminal: bool = False
    stdin: bool = False
    leave_stdin_open: bool = False
    log_size_max: int = -1

    @property
    def container_pidfile(self) -> Path:
        return self.bundle / "pidfile"

    @property
    def conmon_pidfile(self) -> Path:
        return self.bundle / "conmon.pid"

    @property
    def attach_socket(self) -> Path:
        return self.bundle / "attach"

    @property
    def ctl_fifo(self) -> Path:
        return self.bundle / "ctl"

    @property
    def runtime_log(self) -> Path:
        return self.bundle / "runc.log"


def conmon_argv(conmon: str, o: MonitorOptions) -> list[str]:
    argv = [
        conmon, "--api-version", "1",
        "-c", o.container_id, "-u", o.container_id, "-n", o.name,
        "-r", o.runtime_path, "-b", str(o.bundle),
        "-p", str(o.container_pidfile), "-P", str(o.conmon_pidfile),
        "-l", f"k8s-file:{o.log_path}",
        "--exit-dir", str(o.exits_dir),
        "-0", str(o.bundle),
        # The attach socket stays in the bundle; clients reach it through
        # /proc/self/fd, so the 108-byte sun_path limit never bites.
        "--socket-dir-path", str(o.bundle), "--full-attach",
        "--runtime-arg", f"--root={o.runc_root}",
        "--runtime-arg", "--log-format=json",
        "--runtime-arg", f"--log={o.runtime_log}",
        "--log-level", "error",
    ]
    if o.terminal:
        argv.append("-t")
    if o.stdin:
        argv.append("-i")
        if o.leave_stdin_open:
            argv.append("--leave-stdin-open")
    if o.log_size_max > 0:
        argv += ["--log-size-max", str(o.log_size_max)]
    return argv


def _spawn(argv: list[str], write_fd: int) -> subprocess.Popen[bytes]:
    env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
           "_OCI_SYNCPIPE": str(write_fd)}
    return subprocess.Popen(
        argv, pass_fds=(write_fd,), env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )


async def _read_line(read_fd: int) -> bytes:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", buffering=0)
    )
    try:
        return await asyncio.wait_for(reader.readline(), SYNC_TIMEOUT)
    finally:
        transport.close()


async def create_under_monitor(conmon: str, options: MonitorOptions) -> int:
    """Run conmon (which runs ``runc create``); the container's pid once created."""
    read_fd, write_fd = os.pipe2(os.O_CLOEXEC)
    try:
        process = _spawn(conmon_argv(conmon, options), write_fd)
    except OSError as e:
        os.close(read_fd)
        raise Internal(f"starting conmon failed: {e}") from e
    finally:
        os.close(write_fd)
    try:
        line = await _read_line(read_fd)
    except TimeoutError:
        raise Internal("conmon did not report the container's creation in time") from None
    finally:
        # The first conmon process exits as soon as it has forked the monitor.
        await asyncio.get_running_loop().run_in_executor(None, process.wait)
    if not line:
        raise Internal("conmon exited without reporting the container's creation")
    try:
        message = json.loads(line)
        pid = int(message["data"])
    except (ValueError, KeyError, TypeError):
        raise Internal(f"conmon sent an unreadable report: {line!r}") from None
    if pid <= 0:
        raise RuntimeCreateError(str(message.get("message", "")).strip() or "runc create failed")
    return pid
