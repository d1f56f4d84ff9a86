"""The runc commands execd runs itself (create is conmon's): start, kill, delete, ps."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from services.common.errors import Conflict, Internal, NotFound
from services.execd.runc_direct import forget_stopped, start_created


class RuncError(Exception):
    def __init__(self, command: str, message: str) -> None:
        super().__init__(f"runc {command}: {message}")
        self.message = message


@dataclass(frozen=True)
class Runc:
    path: str
    root: Path

    async def _run(self, *args: str, input_data: bytes | None = None) -> bytes:
        process = await asyncio.create_subprocess_exec(
            self.path, "--root", str(self.root), *args,
            stdin=asyncio.subprocess.PIPE if input_data is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate(input_data)
        if process.returncode != 0:
            raise RuncError(args[0], _error_text(err or out))
        return out

    def knows(self, container_id: str) -> bool:
        """Whether runc keeps state for the container (cheaper than ``runc state``)."""
        return (self.root / container_id).is_dir()

    async def start(self, container_id: str) -> None:
        # Without a runc process when that is all runc would do (runc_direct.py).
        if await start_created(self.root / container_id):
            return
        await self._run("start", container_id)

    async def kill(self, container_id: str, signal: int, all_processes: bool = False) -> None:
        args = ["kill", *(["--all"] if all_processes else []), container_id, str(signal)]
        try:
            await self._run(*args)
        except RuncError as e:
            if "not running" in e.message or "process already finished" in e.message:
                raise Conflict(f"Container {container_id} is not running") from None
            if "does not exist" in e.message:
                raise NotFound(f"No such container: {container_id}") from None
            raise Internal(str(e)) from None

    async def delete(self, container_id: str) -> None:
        """Forget the container's runc state; a container runc never knew is fine."""
        # A stopped container is forgotten without a runc process when that is
        # all runc would do (see runc_direct.py): cheaper on every exit.
        if await asyncio.to_thread(forget_stopped, self.root / container_id):
            return
        try:
            await self._run("delete", "--force", container_id)
        except RuncError as e:
            if "does not exist" in e.message or "not exist" in e.message:
                return
            state = await self.state(container_id)
            pid = state.get("pid") if state else None
            if state is None or state.get("status") == "stopped" or not _alive(pid):
                # runc could not tidy up after a process that is already gone
                # (e.g. its cgroup was removed under it): its state directory
                # is all that is left of the container, so forget it ourselves.
                await asyncio.to_thread(shutil.rmtree, self.root / container_id, True)
                return
            raise Internal(str(e)) from None

    async def state(self, container_id: str) -> dict[str, object] | None:
        try:
            out = await self._run("state", container_id)
        except RuncError:
            return None
        data = json.loads(out)
        return data if isinstance(data, dict) else None

    async def containers(self) -> dict[str, str]:
        """Every container in this runc root: ID → runc's status (created, running, …)."""
        out = await self._run("list", "--format", "json")
        data = json.loads(out or b"null") or []
        return {str(c["id"]): str(c.get("status", "")) for c in data if isinstance(c, dict)}

    async def pids(self, container_id: str) -> list[int]:
        try:
            out = await self._run("ps", "--format", "json", container_id)
        except RuncError as e:
            raise Conflict(f"Container {container_id} is not running: {e.message}") from None
        data = json.loads(out or b"[]")
        return [int(p) for p in data or []]


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _error_text(raw: bytes) -> str:
    """runc's own message: with --log-format json it prints {"msg": …} lines."""
    text = raw.decode(errors="replace").strip()
    for line in reversed(text.splitlines()):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("msg"):
            return str(entry["msg"])
    return text
