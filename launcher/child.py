"""One supervised child process: spawn, relay its output, remember its last lines, stop it.

Each child runs in its own session so that a Ctrl-C at the launcher's terminal
does not reach it: the launcher stops children itself, in order. The child
still dies with the launcher: it is started through ``setpriv --pdeathsig``,
which asks the kernel to send it SIGTERM when the launcher dies, even by
SIGKILL. (The death signal is not inherited across fork, so what a child starts
in turn, e.g. execd's container monitors, is not affected.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import sys
import time
from collections import deque
from collections.abc import Mapping, Sequence
from typing import TextIO

RING_LINES = 20
SETPRIV = shutil.which("setpriv") or "/usr/bin/setpriv"


def format_line(component: str, line: str) -> str:
    """A relayed output line as one JSON log line tagged with ``component``."""
    try:
        entry = json.loads(line)
    except ValueError:
        entry = None
    if isinstance(entry, dict):
        if "component" in entry:
            return line
        return json.dumps({"component": component, **entry})
    # Not a JSON log line (a traceback, a print): wrap it so the log stays parseable.
    return json.dumps({"level": "info", "component": component, "msg": line})


class Child:
    """A named process the supervisor keeps running."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str],
        *,
        relay_to: TextIO | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.env = dict(env)
        self.relay_to = relay_to if relay_to is not None else sys.stderr
        self.last_lines: deque[str] = deque(maxlen=RING_LINES)
        self.proc: asyncio.subprocess.Process | None = None
        self.started_wall: float | None = None
        self.started_mono: float = 0.0
        self._relay: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None and self.proc.returncode is None else None

    @property
    def running(self) -> bool:
        return self.pid is not None

    def uptime(self) -> float:
        return time.monotonic() - self.started_mono

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            SETPRIV, "--pdeathsig", "TERM", "--", *self.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=self.env,
            cwd="/",
            start_new_session=True,
        )
        self.started_wall = time.time()
        self.started_mono = time.monotonic()
        assert self.proc.stdout is not None
        self._relay = asyncio.create_task(self._relay_output(self.proc.stdout))

    async def _relay_output(self, stream: asyncio.StreamReader) -> None:
        while True:
            try:
                raw = await stream.readline()
            except ValueError:
                # A line longer than the stream limit: take what is buffered.
                raw = await stream.read(65536)
            if not raw:
                return
            line = raw.decode(errors="replace").rstrip("\n")
            self.last_lines.append(line)
            with contextlib.suppress(OSError, ValueError):
                self.relay_to.write(format_line(self.name, line) + "\n")
                self.relay_to.flush()

    async def wait(self) -> int:
        """Wait for the process to exit and its output to be relayed; its exit status."""
        assert self.proc is not None
        code = await self.proc.wait()
        if self._relay is not None:
            # A grandchild that inherited the pipe could keep it open: don't wait forever.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._relay), 1.0)
        return code

    def signal(self, signum: int) -> None:
        """Signal this child by pid (never by name, never its process group)."""
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signum)

    async def stop(self, grace: float) -> int | None:
        """SIGTERM, then SIGKILL after ``grace`` s; the exit status (None if never started)."""
        if self.proc is None:
            return None
        if self.proc.returncode is None:
            self.signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), grace)
            except TimeoutError:
                self.signal(signal.SIGKILL)
        code = await self.wait()
        if self._relay is not None and not self._relay.done():
            self._relay.cancel()
        return code

    def tail(self, lines: int = RING_LINES) -> str:
        """The child's last output lines, for error messages."""
        return "\n".join(list(self.last_lines)[-lines:])
