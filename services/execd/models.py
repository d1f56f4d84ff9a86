"""Domain values of execd: what it knows of a container's process.

execd is the only writer of these facts (etcd ``runtime/<container id>``); the
gateway merges them with its container records into Docker's ``State``.
"""

from __future__ import annotations

from dataclasses import dataclass

# Docker's State.Status values.
CREATED = "created"
RUNNING = "running"
PAUSED = "paused"
RESTARTING = "restarting"
REMOVING = "removing"
EXITED = "exited"
DEAD = "dead"

ZERO_TIME = "0001-01-01T00:00:00Z"
"""Docker's rendering of a time that never happened (StartedAt of a created container)."""


@dataclass(frozen=True)
class RuntimeState:
    """The process side of one container, as ``docker inspect`` shows it in ``State``."""

    container_id: str
    status: str = CREATED
    pid: int = 0
    exit_code: int = 0
    error: str = ""
    oom_killed: bool = False
    started_at: str = ZERO_TIME
    finished_at: str = ZERO_TIME
    restart_count: int = 0
    # Set by a stop/kill the user asked for: restart policies other than
    # "always" do not restart it, and "unless-stopped" stays down on daemon start.
    stopped_by_user: bool = False
    # Set by a stop, or a kill that ends the run (SIGKILL, the StopSignal), before
    # its signal goes: the exit it causes is not followed by a policy restart, also
    # when execd went away before that exit was handled. Cleared at the next start.
    next_exit_not_restarted: bool = False

    @property
    def running(self) -> bool:
        return self.status in (RUNNING, PAUSED, RESTARTING)


RUNTIME_PREFIX = "runtime/"
"""etcd prefix of execd's per-container records: ``runtime/<container id>``."""


def runtime_key(container_id: str) -> str:
    return f"{RUNTIME_PREFIX}{container_id}"


def encode_state(state: RuntimeState) -> bytes:
    from dataclasses import asdict

    from services.common.records import dump_record

    return dump_record(asdict(state))


def decode_state(value: bytes) -> RuntimeState:
    """Read a ``runtime/<id>`` record; fields a newer writer added are ignored."""
    from dataclasses import fields

    from services.common.records import load_record

    data = load_record(value, "runtime")
    if "next_exit_not_restarted" not in data:
        # Written by an execd before this field: judged as that execd judged it
        # on adoption (by stopped_by_user), until the next save writes the field.
        data["next_exit_not_restarted"] = bool(data.get("stopped_by_user"))
    known = {f.name for f in fields(RuntimeState)}
    return RuntimeState(**{k: v for k, v in data.items() if k in known})
