"""``dockyard status``: each component's pid, health and uptime, from launcher.json and probes."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

from launcher import health
from launcher.pidfile import read_live_pid
from launcher.state import COMPONENTS, LauncherState, load
from services.common.config import DaemonConfig, load_runtime_config
from services.common.endpoints import service_address
from services.common.errors import DockyardError
from services.common.paths import SERVICE_NAMES, ClusterPaths


def _pid_alive(pid: int | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _health(name: str, state: LauncherState, config: DaemonConfig,
                  probe: health.HealthProbe) -> str:
    if name == "etcd":
        for endpoint in state.etcd_endpoints:
            if await health.etcd_healthy(endpoint):
                return "healthy"
        return "unreachable"
    if name == "gateway":
        if not state.hosts:
            return "unreachable"
        return "healthy" if await health.ping(state.hosts[0], config) else "unreachable"
    return await probe.check(service_address(config, name), within=1.0)


async def collect(exec_root: Path) -> dict[str, Any]:
    """The status report of the cluster whose exec-root is ``exec_root``."""
    launcher_pid = read_live_pid(exec_root / "dockyard.pid")
    state = load(exec_root / "launcher.json") if launcher_pid is not None else None
    if launcher_pid is None or state is None:
        return {"running": False, "exec_root": str(exec_root), "components": {}}
    paths = ClusterPaths(Path(state.data_root), Path(state.exec_root))
    # Service addresses and the gateway's TLS settings come from the runtime
    # config the children read; an unreadable file leaves the defaults.
    try:
        config = load_runtime_config(paths.runtime_config)
    except DockyardError:
        config = DaemonConfig(data_root=state.data_root, exec_root=state.exec_root)
    probe = health.HealthProbe()
    now = time.time()
    try:
        healths = await asyncio.gather(
            *(_health(name, state, config, probe) for name in COMPONENTS)
        )
    finally:
        await probe.close()
    components: dict[str, Any] = {}
    for name, status in zip(COMPONENTS, healths, strict=True):
        component = state.components.get(name)
        pid = component.pid if component is not None else None
        alive = _pid_alive(pid)
        started = component.started if component is not None and alive else None
        components[name] = {
            "pid": pid if alive else None,
            "health": status,
            "uptime": round(now - started, 1) if started is not None else None,
            "restarts": component.restarts if component is not None else 0,
            "state": component.state if component is not None else "unknown",
        }
    return {
        "running": True,
        "launcher": {
            "pid": launcher_pid,
            "state": state.state,
            "uptime": round(now - state.started, 1),
        },
        "data_root": state.data_root,
        "exec_root": state.exec_root,
        "hosts": state.hosts,
        "etcd_endpoints": state.etcd_endpoints,
        "services": list(SERVICE_NAMES),
        "components": components,
    }


def _uptime_text(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def render(report: dict[str, Any], fmt: str) -> str:
    """The report as JSON (``--format json``) or as a table."""
    if fmt == "json":
        return json.dumps(report, indent=2)
    if not report["running"]:
        return f"dockyard is not running (exec-root {report['exec_root']})"
    launcher = report["launcher"]
    lines = [
        f"launcher pid {launcher['pid']}, {launcher['state']}, "
        f"up {_uptime_text(launcher['uptime'])}; DOCKER_HOST={report['hosts'][0]}",
        f"{'COMPONENT':<10} {'PID':>8}  {'HEALTH':<12} {'UPTIME':>10} {'RESTARTS':>8}  STATE",
    ]
    for name, c in report["components"].items():
        pid = str(c["pid"]) if c["pid"] is not None else "-"
        lines.append(
            f"{name:<10} {pid:>8}  {c['health']:<12} {_uptime_text(c['uptime']):>10} "
            f"{c['restarts']:>8}  {c['state']}"
        )
    return "\n".join(lines)
