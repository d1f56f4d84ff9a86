"""A container's ``State`` and its one-line ``Status``, from execd's runtime record."""

from __future__ import annotations

import time
from typing import Any

from gateway.containers.times import human_duration, parse_rfc3339
from services.execd.models import DEAD, PAUSED, REMOVING, RESTARTING, RuntimeState


def state_json(runtime: RuntimeState) -> dict[str, Any]:
    """Inspect's ``State`` object; ``Running`` stays true while paused or restarting, as Docker."""
    return {
        "Status": runtime.status,
        "Running": runtime.running,
        "Paused": runtime.status == PAUSED,
        "Restarting": runtime.status == RESTARTING,
        "OOMKilled": runtime.oom_killed,
        "Dead": runtime.status == DEAD,
        "Pid": runtime.pid,
        "ExitCode": runtime.exit_code,
        "Error": runtime.error,
        "StartedAt": runtime.started_at,
        "FinishedAt": runtime.finished_at,
    }


def status_text(runtime: RuntimeState, now: float | None = None) -> str:
    """``docker ps`` STATUS: "Up 3 seconds", "Exited (0) 5 minutes ago", "Created", …"""
    now = time.time() if now is None else now
    started = parse_rfc3339(runtime.started_at)
    finished = parse_rfc3339(runtime.finished_at)
    if runtime.status == RESTARTING:
        ago = human_duration(now - finished) if finished is not None else human_duration(0)
        return f"Restarting ({runtime.exit_code}) {ago} ago"
    if runtime.running:
        up = human_duration(now - started) if started is not None else human_duration(0)
        return f"Up {up} (Paused)" if runtime.status == PAUSED else f"Up {up}"
    if runtime.status == REMOVING:
        return "Removal In Progress"
    if runtime.status == DEAD:
        return "Dead"
    if started is None:
        return "Created"
    if finished is None:
        return ""
    return f"Exited ({runtime.exit_code}) {human_duration(now - finished)} ago"
