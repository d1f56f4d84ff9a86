"""``GET /version``: the engine's build plus the versions of the parts it drives.

Components come from etcd and execd (runtimes, monitor), asked concurrently; a
part that does not answer is left out of ``Components``. Typed facts become the
API's JSON shape here and only here.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from gateway.backends import Backends
from gateway.buildinfo import BUILD, PLATFORM_NAME, EngineBuild
from gateway.partial import Missing, ask
from gateway.sysinfo import HostFacts
from gateway.versioning import API_VERSION, MIN_API_VERSION
from services.execd.client import RuntimeInfo
from services.execd.runtimes import ComponentVersion

log = logging.getLogger(__name__)


def engine_component(build: EngineBuild, host: HostFacts) -> ComponentVersion:
    return ComponentVersion(
        name="Engine",
        version=build.version,
        details={
            "ApiVersion": API_VERSION,
            "Arch": host.go_arch,
            "BuildTime": build.build_time,
            "Experimental": "false",
            "GitCommit": build.git_commit,
            "GoVersion": build.python_version,
            "KernelVersion": host.kernel_version,
            "MinAPIVersion": MIN_API_VERSION,
            "Os": "linux",
        },
    )


def _with_commit(component: ComponentVersion) -> ComponentVersion:
    """dockerd's shape for helper binaries: the version plus ``GitCommit`` alone."""
    commit = component.details.get("commit", "")
    return ComponentVersion(component.name, component.version, {"GitCommit": commit})


def version_components(
    build: EngineBuild,
    host: HostFacts,
    etcd_version: str | Missing,
    runtime: RuntimeInfo | Missing,
) -> list[ComponentVersion]:
    components = [engine_component(build, host)]
    if not isinstance(etcd_version, Missing):
        components.append(ComponentVersion("etcd", etcd_version, {}))
    if not isinstance(runtime, Missing):
        components.extend(_with_commit(rt.version) for rt in runtime.runtimes)
        components.append(_with_commit(runtime.monitor))
    return components


def version_view(
    build: EngineBuild, host: HostFacts, components: list[ComponentVersion]
) -> dict[str, Any]:
    return {
        "Platform": {"Name": PLATFORM_NAME},
        "Components": [
            {"Name": c.name, "Version": c.version, "Details": dict(c.details)}
            for c in components
        ],
        "Version": build.version,
        "ApiVersion": API_VERSION,
        "MinAPIVersion": MIN_API_VERSION,
        "GitCommit": build.git_commit,
        "GoVersion": build.python_version,
        "Os": "linux",
        "Arch": host.go_arch,
        "KernelVersion": host.kernel_version,
        "BuildTime": build.build_time,
    }


async def gather_version(backends: Backends, host: HostFacts) -> dict[str, Any]:
    etcd_version, runtime = await asyncio.gather(
        ask("etcd", backends.store.version()),
        ask("execd", backends.runtime.get_runtime_info()),
    )
    for missing in (etcd_version, runtime):
        if isinstance(missing, Missing):
            log.warning("version without %s: %s", missing.part, missing.reason)
    return version_view(BUILD, host, version_components(BUILD, host, etcd_version, runtime))
