"""Exec sessions: extra processes in a running container (``docker exec``).

Each session runs ``runc exec`` in the foreground as execd's child, so the exit
code is runc's. With a terminal, runc itself proxies between the container's
pty and its own stdio, which is a pty execd made: resizing that pty and
sending runc SIGWINCH resizes the container's.

Sessions live in execd's memory (as dockerd's do): a session running while
execd restarts is lost with its client, the container is not.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import secrets
import signal
import struct
import termios
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.common.errors import Conflict, InvalidArgument, NotFound
from services.execd.attach import STDERR, STDOUT
from services.execd.runc import Runc

EXEC_FAILED_CODE = 126
EXEC_NOT_FOUND_CODE = 127
_READ = 32 * 1024


@dataclass
class ExecSession:
    exec_id: str
    container_id: str
    config: dict[str, Any]
    running: bool = False
    exit_code: int | None = None
    pid: int = 0
    started: bool = False
    process: asyncio.subprocess.Process | None = None
    master_fd: int = -1
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def tty(self) -> bool:
        return bool(self.config.get("Tty"))


class ExecSessions:
    def __init__(
        self,
        runc: Runc,
        exec_dir: Callable[[str], Path],
        is_running: Callable[[str], bool],
        build_process: Callable[[str, dict[str, Any]], dict[str, Any]],
    ) -> None:
        self._runc = runc
        self._exec_dir = exec_dir
        self._is_running = is_running
        self._build_process = build_process
        self._sessions: dict[str, ExecSession] = {}
        self._drains: set[asyncio.Task[None]] = set()

    def create(self, container_id: str, config: dict[str, Any]) -> ExecSession:
        if not self._is_running(container_id):
            raise Conflict(f"container {container_id} is not running")
        cmd = config.get("Cmd")
        if not isinstance(cmd, list) or not cmd:
            raise InvalidArgument("No exec command specified")
        session = ExecSession(secrets.token_hex(32), container_id, dict(config))
        # Build now, so a bad user or working directory is a create-time 4xx.
        self._build_process(container_id, session.config)
        self._sessions[session.exec_id] = session
        return session

    def get(self, exec_id: str) -> ExecSession:
        session = self._sessions.get(exec_id)
        if session is None:
            raise NotFound(f"No such exec instance: {exec_id}")
        return session

    def for_container(self, container_id: str) -> list[str]:
        return [s.exec_id for s in self._sessions.values() if s.container_id == container_id]

    def pending(self, container_id: str) -> list[str]:
        """The container's sessions that have not ended (created or running)."""
        return [s.exec_id for s in self._sessions.values()
                if s.container_id == container_id and s.exit_code is None]

    def remove(self, exec_id: str) -> None:
        """Forget an ended (or never started) session; one still running is a Conflict."""
        session = self.get(exec_id)
        if session.running:
            raise Conflict(f"exec {exec_id} is still running")
        self._sessions.pop(exec_id, None)

    def kill(self, exec_id: str, signal_number: int) -> None:
        """Signal a running session's process (a health probe past its timeout).

        The pid is the process runc started in the container and still waits
        for (runc stays its parent until it is reaped), so it names no other.
        """
        session = self.get(exec_id)
        if not session.running or session.pid <= 0:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(session.pid, signal_number)

    def forget_container(self, container_id: str) -> None:
        for exec_id in self.for_container(container_id):
            self._sessions.pop(exec_id, None)

    async def start(self, exec_id: str) -> ExecSession:
        """Run the session's process; its output is read with :meth:`output`."""
        session = self.get(exec_id)
        if session.started:
            raise Conflict(f"Error: Exec command {exec_id} has already run")
        if not self._is_running(session.container_id):
            raise Conflict(f"container {session.container_id} is not running")
        session.started = True
        directory = self._exec_dir(exec_id)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        process_file = directory / "process.json"
        document = self._build_process(session.container_id, session.config)
        process_file.write_text(json.dumps(document))
        argv = [self._runc.path, "--root", str(self._runc.root), "--log-format", "json",
                "--log", str(directory / "runc.log"), "exec", "--process", str(process_file),
                "--pid-file", str(directory / "pid"), session.container_id]
        wants_stdin = bool(session.config.get("AttachStdin"))
        if session.tty:
            master, slave = os.openpty()
            os.set_blocking(master, False)
            session.master_fd = master
            process = await asyncio.create_subprocess_exec(
                *argv, stdin=slave, stdout=slave, stderr=slave, start_new_session=True)
            os.close(slave)
        else:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if wants_stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        session.process = process
        session.running = True
        session.pid = await _read_pid(directory / "pid", process)
        return session

    async def output(self, session: ExecSession) -> AsyncIterator[tuple[int, bytes]]:
        """(stream, bytes) until the process ends; then the exit code is recorded."""
        process = session.process
        assert process is not None
        queue: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        readers: list[asyncio.Task[None]] = []
        if session.tty:
            readers.append(asyncio.ensure_future(_pump_fd(session.master_fd, queue, process)))
        else:
            assert process.stdout is not None and process.stderr is not None
            readers.append(asyncio.ensure_future(_pump_stream(process.stdout, STDOUT, queue)))
            readers.append(asyncio.ensure_future(_pump_stream(process.stderr, STDERR, queue)))
        remaining = len(readers)
        # A process runc could not start never ran: what came out is runc's own
        # complaint, which Docker replaces with its one-line message.
        never_ran = self._never_ran(session)
        finished_reading = False
        try:
            while remaining:
                item = await queue.get()
                if item is None:
                    remaining -= 1
                    continue
                if not never_ran:
                    yield item
            finished_reading = True
        finally:
            if not finished_reading:
                # The client (or the gateway) went away: as dockerd, the process
                # runs on with its output discarded, and its exit is recorded.
                drain = asyncio.ensure_future(self._discard_rest(session, queue, remaining))
                self._drains.add(drain)
                drain.add_done_callback(self._drains.discard)
        await self._finish(session)

    async def _discard_rest(
        self, session: ExecSession, queue: asyncio.Queue[tuple[int, bytes] | None], remaining: int
    ) -> None:
        while remaining:
            if await queue.get() is None:
                remaining -= 1
        await self._finish(session)

    async def wait_detached(self, session: ExecSession) -> None:
        """Drain a detached session's output and record its exit."""
        async for _ in self.output(session):
            pass

    async def _finish(self, session: ExecSession) -> None:
        process = session.process
        assert process is not None
        code = await process.wait()
        failure = _runc_failure(self._exec_dir(session.exec_id) / "runc.log")
        session.exit_code = start_failure_code(failure, session.config) if (
            failure and code == 255) else code
        session.running = False
        session.pid = 0
        if session.master_fd >= 0:
            with contextlib.suppress(OSError):
                os.close(session.master_fd)
            session.master_fd = -1
        session.finished.set()

    async def write_stdin(self, session: ExecSession, data: bytes) -> None:
        if session.tty and session.master_fd >= 0:
            await asyncio.to_thread(_write_all, session.master_fd, data)
        elif session.process is not None and session.process.stdin is not None:
            with contextlib.suppress(ConnectionError):
                session.process.stdin.write(data)
                await session.process.stdin.drain()

    def close_stdin(self, session: ExecSession) -> None:
        if session.tty and session.master_fd >= 0:
            with contextlib.suppress(OSError):
                os.write(session.master_fd, b"\x04")  # EOF on a terminal
        elif session.process is not None and session.process.stdin is not None:
            session.process.stdin.close()

    def resize(self, exec_id: str, height: int, width: int) -> None:
        session = self.get(exec_id)
        if not session.tty or session.master_fd < 0 or session.process is None:
            return
        fcntl.ioctl(session.master_fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        with contextlib.suppress(ProcessLookupError):
            session.process.send_signal(signal.SIGWINCH)

    def _never_ran(self, session: ExecSession) -> bool:
        """Whether runc exited without starting the process (no pid, an error logged)."""
        process = session.process
        return bool(
            session.pid == 0 and process is not None and process.returncode is not None
            and _runc_failure(self._exec_dir(session.exec_id) / "runc.log")
        )

    def failure_message(self, session: ExecSession) -> str:
        failure = _runc_failure(self._exec_dir(session.exec_id) / "runc.log")
        return f"OCI runtime exec failed: {failure}: unknown" if failure else ""


def start_failure_code(failure: str, config: dict[str, Any]) -> int:
    """dockerd's exit code for an exec runc could not start (translateContainerdStartErr).

    127 when the command is missing, 126 when it cannot be run or for any
    other start failure.
    """
    lowered = failure.lower()
    cmd = config.get("Cmd")
    command = str(cmd[0]).lower() if isinstance(cmd, list) and cmd else ""
    missing = "executable file not found" in lowered or "no such file or directory" in lowered
    if (command and command in lowered and missing) or "not a directory" in lowered:
        return EXEC_NOT_FOUND_CODE
    return EXEC_FAILED_CODE


async def _read_pid(pidfile: Path, process: asyncio.subprocess.Process) -> int:
    for _ in range(200):
        with contextlib.suppress(OSError, ValueError):
            return int(await asyncio.to_thread(pidfile.read_text))
        if process.returncode is not None:
            return 0
        await asyncio.sleep(0.005)
    return 0


async def _pump_stream(
    reader: asyncio.StreamReader, stream: int, queue: asyncio.Queue[tuple[int, bytes] | None]
) -> None:
    try:
        while data := await reader.read(_READ):
            await queue.put((stream, data))
    finally:
        await queue.put(None)


async def _pump_fd(
    fd: int, queue: asyncio.Queue[tuple[int, bytes] | None], process: asyncio.subprocess.Process
) -> None:
    loop = asyncio.get_running_loop()
    readable = asyncio.Event()
    loop.add_reader(fd, readable.set)
    try:
        while True:
            try:
                data = os.read(fd, _READ)
            except BlockingIOError:
                readable.clear()
                waiter = asyncio.ensure_future(readable.wait())
                exited = asyncio.ensure_future(process.wait())
                await asyncio.wait({waiter, exited}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                if exited.done() and not readable.is_set():
                    # Drain what is left, then stop: the pty has no other writer.
                    with contextlib.suppress(OSError):
                        while rest := os.read(fd, _READ):
                            await queue.put((STDOUT, rest))
                    return
                exited.cancel()
                continue
            except OSError:
                return  # EIO: the other side of the pty is closed
            if not data:
                return
            await queue.put((STDOUT, data))
    finally:
        loop.remove_reader(fd)
        await queue.put(None)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            written = os.write(fd, view)
        except BlockingIOError:
            import select

            select.select([], [fd], [], 1.0)
            continue
        view = view[written:]


def _runc_failure(log_file: Path) -> str:
    try:
        lines = log_file.read_text().splitlines()
    except OSError:
        return ""
    for line in reversed(lines):
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and entry.get("level") in ("error", "fatal"):
                return str(entry.get("msg", ""))
    return ""
