"""What ``runc start`` and ``runc delete`` do in the simple cases, without running runc.

Each runc command is a Go process start (5-10 ms of CPU); on a 2-core machine
two of them on the way of every ``docker run`` (the start after conmon's
create, the delete after the exit) compete with everything else the run does.
For the common cases their work is a few system calls on runc's state
directory, done here the way runc 1.1 does it. Anything else, or anything
unexpected on the way, answers False and is left to runc itself.

- ``runc start`` of a created container opens its ``exec.fifo`` for reading:
  the waiting ``runc init`` writes a byte and execs the user's process (the
  fifo, opened close-on-exec, then reads end of file), and the fifo is removed,
  which makes runc see the container as running.
- ``runc delete`` of a stopped container (libcontainer's ``destroy()``) kills
  what is left in the cgroup when the PID namespace is not the container's
  own, removes every directory in the state's ``cgroup_paths``, removes the
  state directory and runs poststop hooks. Done here only with a PID namespace
  of its own (the kernel has killed every other process before the init's
  exit can be seen), no hooks, no Intel RDT and an init that is gone. The
  cgroup directories cgroupd made are left where they are: they are cgroupd's,
  which keeps them with their limits for the container's next start and
  removes them with the container (runc's removal only made cgroupd put them
  back). The one runc makes on its own (in the cgroup2 hierarchy of a hybrid
  host, beside cgroupd's v1 ones) goes, as with runc.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import json
import os
import shutil
from pathlib import Path
from typing import Any

EXEC_FIFO = "exec.fifo"
STATE_FILE = "state.json"
CGROUP_ROOT = Path("/sys/fs/cgroup")
STAT_STATE_INDEX = 0
STAT_START_TIME_INDEX = 19
"""Indexes of ``state`` and ``starttime`` (fields 3 and 22 of /proc/<pid>/stat) after ``comm``."""
INIT_CHECK_SECONDS = 0.1
"""How often a start that waits on the fifo checks that the init is still there (as runc)."""


class Init(enum.Enum):
    ALIVE = "alive"
    GONE = "gone"
    UNSURE = "unsure"
    """A zombie, or nothing runc's rules decide: runc is asked."""


def read_state(state_dir: Path) -> dict[str, Any] | None:
    try:
        state = json.loads((state_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return state if isinstance(state, dict) else None


def init_of(state: dict[str, Any]) -> Init:
    """runc's test: no such process, or one with another start time (its PID reused), is gone."""
    pid, started = state.get("init_process_pid"), state.get("init_process_start")
    if not isinstance(pid, int) or not isinstance(started, int) or pid <= 0:
        return Init.UNSURE
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return Init.GONE
    except OSError:
        return Init.UNSURE
    fields = stat.rpartition(")")[2].split()
    try:
        if int(fields[STAT_START_TIME_INDEX]) != started:
            return Init.GONE
        return Init.UNSURE if fields[STAT_STATE_INDEX] in ("Z", "X") else Init.ALIVE
    except (IndexError, ValueError):
        return Init.UNSURE


# ---- start ------------------------------------------------------------------------------


async def start_created(state_dir: Path) -> bool:
    """Start the created container kept in ``state_dir``; False if runc must do it."""
    state = read_state(state_dir)
    fifo = state_dir / EXEC_FIFO
    if state is None or not fifo.exists() or init_of(state) is not Init.ALIVE:
        return False
    try:
        # Non-blocking: the open cannot wait, and counts as the reader the
        # init's blocking open waits for. Until a writer has come, the fifo
        # reports neither data nor hang-up, so the read below waits for it.
        fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        written = await _read_until_exec(fd, state)
    finally:
        os.close(fd)
    if not written:
        return False  # the init died before it wrote: runc says why
    with contextlib.suppress(FileNotFoundError):
        fifo.unlink()
    return True


async def _read_until_exec(fd: int, state: dict[str, Any]) -> bytes:
    """What the init writes, read until it closes the fifo by exec'ing (or dies)."""
    loop = asyncio.get_running_loop()
    received = bytearray()
    ended = loop.create_future()

    def readable() -> None:
        try:
            chunk = os.read(fd, 64)
        except BlockingIOError:
            return
        except OSError as e:
            if not ended.done():
                ended.set_exception(e)
            return
        if chunk:
            received.extend(chunk)
        elif not ended.done():
            ended.set_result(None)

    loop.add_reader(fd, readable)
    try:
        while True:
            try:
                await asyncio.wait_for(asyncio.shield(ended), INIT_CHECK_SECONDS)
                return bytes(received)
            except TimeoutError:
                if init_of(state) is not Init.ALIVE:
                    return bytes(received)
    except OSError:
        return bytes(received)
    finally:
        loop.remove_reader(fd)
        if not ended.done():
            ended.cancel()


# ---- delete -----------------------------------------------------------------------------


def forget_stopped(state_dir: Path) -> bool:
    """Forget the stopped runc container kept in ``state_dir``; False if runc must do it."""
    state = read_state(state_dir)
    if state is None or not _nothing_else_to_do(state) or init_of(state) is not Init.GONE:
        return False
    paths = state.get("cgroup_paths") or {}
    if not isinstance(paths, dict) or not all(isinstance(p, str) for p in paths.values()):
        return False
    for path in paths.values():
        if path and not _made_by_cgroupd(Path(path)) and not _remove_cgroup_dir(Path(path)):
            return False
    shutil.rmtree(state_dir, ignore_errors=True)
    return not state_dir.exists()


def _nothing_else_to_do(state: dict[str, Any]) -> bool:
    """A private PID namespace, no hooks, no Intel RDT: nothing runc would do beyond rmdir."""
    config = state.get("config")
    if not isinstance(config, dict) or state.get("intel_rdt_path"):
        return False
    namespaces = config.get("namespaces") or []
    own_pid_namespace = isinstance(namespaces, list) and any(
        isinstance(n, dict) and n.get("type") == "NEWPID" and not n.get("path")
        for n in namespaces
    )
    hooks = config.get("Hooks") or {}
    no_hooks = isinstance(hooks, dict) and not any(hooks.values())
    return own_pid_namespace and no_hooks


@functools.cache
def _cgroup2_mounts() -> tuple[Path, ...]:
    mounts = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields, _, after = line.partition(" - ")
        if after.split(" ", 1)[0] == "cgroup2":
            mounts.append(Path(fields.split()[4]))
    return tuple(mounts)


def _made_by_cgroupd(path: Path) -> bool:
    """Whether the container cgroup directory ``path`` is one cgroupd makes and removes.

    cgroupd makes a container's cgroup in every v1 hierarchy, or in the cgroup2
    hierarchy of a unified host (mounted at /sys/fs/cgroup itself).
    """
    cgroup2 = _cgroup2_mounts()
    return CGROUP_ROOT in cgroup2 or not any(path.is_relative_to(m) for m in cgroup2)


def _remove_cgroup_dir(path: Path) -> bool:
    """Remove a cgroup directory and any below it, leaf first; gone already is fine."""
    if not path.is_dir():
        return True
    children = []
    with contextlib.suppress(OSError):
        children = [Path(entry.path) for entry in os.scandir(path) if entry.is_dir()]
    if not all(_remove_cgroup_dir(child) for child in children):
        return False
    try:
        path.rmdir()
    except FileNotFoundError:
        pass
    except OSError:
        return False  # processes still in it (EBUSY): runc waits for them
    return True
