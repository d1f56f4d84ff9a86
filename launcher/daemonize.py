"""``dockyard up --detach``: run the launcher in the background and wait until it serves.

The foreground process re-executes the launcher in a new session with its
output appended to ``<data-root>/logs/dockyard.log`` and a pipe on which the
background launcher reports ``READY`` or ``ERROR <reason>`` exactly once.
Re-executing (rather than forking) gives the background a fresh interpreter:
no inherited threads, locks or gRPC state.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from services.common.errors import DockyardError

READY = "READY"
ERROR = "ERROR"
# The background launcher gives up after its own start timeout (30 s); this
# margin only covers a launcher that hangs before it can report.
WAIT_SECONDS = 40.0


class DetachFailed(DockyardError):
    """The background launcher did not report a running cluster."""


def notify(fd: int, failure: str | None) -> None:
    """Report the outcome on the readiness pipe (once) and close it."""
    message = READY if failure is None else f"{ERROR} {failure}".replace("\n", " ")
    with contextlib.suppress(OSError):
        os.write(fd, (message + "\n").encode())
        os.close(fd)


def _tail(path: Path, lines: int) -> str:
    with contextlib.suppress(OSError):
        return " | ".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


def run_detached(argv: Sequence[str], log_path: Path) -> None:
    """Start ``python -m launcher <argv> --ready-fd N`` in the background; return once ready."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    read_end, write_end = os.pipe()
    with open(log_path, "ab") as log_file:
        background = subprocess.Popen(
            [sys.executable, "-m", "launcher", *argv, f"--ready-fd={write_end}"],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
            pass_fds=(write_end,),
        )
    os.close(write_end)
    try:
        message = _read_report(read_end, time.monotonic() + WAIT_SECONDS)
    finally:
        os.close(read_end)
    if message == READY:
        return
    if message.startswith(ERROR):
        raise DetachFailed(message[len(ERROR) :].strip())
    if message == "":
        code = background.wait()
        raise DetachFailed(
            f"dockyard exited with status {code} before the cluster was ready; "
            f"{log_path}: {_tail(log_path, 3)}"
        )
    # No report in time: stop the launcher we started (it stops its children).
    background.send_signal(signal.SIGTERM)
    raise DetachFailed(f"the cluster was not ready within {WAIT_SECONDS:.0f}s; see {log_path}")


def _read_report(fd: int, deadline: float) -> str:
    """The report line; "" on EOF (the launcher died), "timeout" when none came in time."""
    data = b""
    while b"\n" not in data:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return "timeout"
        readable, _, _ = select.select([fd], [], [], remaining)
        if not readable:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            return ""
        data += chunk
    return data.split(b"\n", 1)[0].decode(errors="replace")
