"""``docker top``: the host's ``ps`` output, kept to the container's processes."""

from __future__ import annotations

import asyncio

from services.common.errors import Conflict, InvalidArgument
from services.execd.runc import Runc


async def list_processes(
    runc: Runc, container_id: str, ps_args: str
) -> tuple[list[str], list[list[str]]]:
    pids = set(await runc.pids(container_id))
    args = ps_args.split() if ps_args.strip() else ["-ef"]
    process = await asyncio.create_subprocess_exec(
        "ps", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise InvalidArgument(f"ps: {err.decode(errors='replace').strip()}")
    return parse_ps(out.decode(errors="replace"), pids)


def parse_ps(output: str, pids: set[int]) -> tuple[list[str], list[list[str]]]:
    """Titles and the rows whose PID column is one of ``pids`` (as dockerd parses ps)."""
    lines = [line for line in output.splitlines() if line.strip()]
    if not lines:
        return [], []
    titles = lines[0].split()
    if "PID" not in titles:
        raise Conflict("Couldn't find PID field in ps output")
    pid_index = titles.index("PID")
    rows: list[list[str]] = []
    for line in lines[1:]:
        fields = line.split(None, len(titles) - 1)
        if len(fields) <= pid_index:
            continue
        try:
            pid = int(fields[pid_index])
        except ValueError:
            continue
        if pid in pids:
            rows.append(fields)
    return titles, rows
