"""The docker CLI under a pseudo-terminal, as a user at a terminal drives it.

``docker run -t``, ``exec -it``, ``attach`` and the detach keys only behave
like that when the CLI's own stdio is a terminal. :class:`PtyCommand` starts
the CLI on a fresh pty (Python's :mod:`pty`), lets the test wait for output
and type keys, and always reaps (or kills) the CLI.
"""

from __future__ import annotations

import contextlib
import os
import pty
import select
import signal
import time
from types import TracebackType

from tests.support.cluster import DOCKER_CLI, Cluster

CTRL_P_CTRL_Q = b"\x10\x11"
"""Docker's default detach sequence."""


class PtyCommand:
    """One docker CLI process whose stdin, stdout and stderr are a terminal."""

    def __init__(self, cluster: Cluster, *args: str, rows: int = 24, cols: int = 80) -> None:
        env = {**os.environ, "DOCKER_HOST": cluster.docker_host, "TERM": "xterm"}
        env.pop("DOCKER_CONTEXT", None)
        pid, fd = pty.fork()
        if pid == 0:  # the child: becomes the CLI
            try:
                import fcntl
                import struct
                import termios

                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
                os.execve(DOCKER_CLI, [DOCKER_CLI, *args], env)
            finally:
                os._exit(127)
        self.pid = pid
        self._fd = fd
        self.output = b""
        self.exit_code: int | None = None

    def __enter__(self) -> PtyCommand:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _read(self, timeout: float) -> bool:
        """Read what is there within ``timeout``; False once the terminal is closed."""
        ready, _, _ = select.select([self._fd], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self._fd, 65536)
        except OSError:  # EIO: the CLI has exited and closed the terminal
            return False
        if not data:
            return False
        self.output += data
        return True

    def expect(self, wanted: bytes, timeout: float = 10.0, after: int = 0) -> int:
        """Wait until ``wanted`` appears in the output past offset ``after``; its end offset."""
        deadline = time.monotonic() + timeout
        while (index := self.output.find(wanted, after)) < 0:
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(min(left, 0.2)):
                raise AssertionError(f"{wanted!r} not seen; the terminal showed {self.output!r}")
        return index + len(wanted)

    def send(self, data: bytes) -> None:
        os.write(self._fd, data)

    def wait(self, timeout: float = 10.0) -> int:
        """The CLI's exit code, reading its output until then."""
        deadline = time.monotonic() + timeout
        while self.exit_code is None:
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                self.exit_code = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"the CLI did not exit; the terminal showed {self.output!r}")
            self._read(0.05)
        while self._read(0.05):  # the rest of what it wrote
            pass
        return self.exit_code

    def close(self) -> None:
        if self.exit_code is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.exit_code = -signal.SIGKILL
        with contextlib.suppress(OSError):
            os.close(self._fd)
