"""execd forgets an exec session on request (the health monitor's probes), never a running one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.common.errors import Conflict, NotFound
from services.execd.execs import ExecSessions
from services.execd.runc import Runc


def _sessions(tmp_path: Path) -> ExecSessions:
    def build(container_id: str, config: dict[str, Any]) -> dict[str, Any]:
        return {"args": config["Cmd"]}

    return ExecSessions(Runc("runc", tmp_path), lambda exec_id: tmp_path / exec_id,
                        lambda container_id: True, build)


def test_removed_session_is_gone(tmp_path: Path) -> None:
    sessions = _sessions(tmp_path)
    session = sessions.create("c" * 64, {"Cmd": ["true"]})
    session.exit_code = 0
    sessions.remove(session.exec_id)
    with pytest.raises(NotFound, match="No such exec instance"):
        sessions.get(session.exec_id)
    with pytest.raises(NotFound):
        sessions.remove(session.exec_id)


def test_running_session_is_kept(tmp_path: Path) -> None:
    sessions = _sessions(tmp_path)
    session = sessions.create("c" * 64, {"Cmd": ["sleep", "9"]})
    session.running = True
    with pytest.raises(Conflict, match="still running"):
        sessions.remove(session.exec_id)
    assert sessions.get(session.exec_id) is session
