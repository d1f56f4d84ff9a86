"""The OCI runtimes and the monitor execd drives, with the versions they report.

Versions are probed once at start-up by running the binaries: they do not
change under a running service, and ``docker version`` must not fork per call.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.common.errors import InvalidArgument, Unavailable

# Debian package that ships each binary, for the error a user sees when it is missing.
DEBIAN_PACKAGES = {"runc": "runc", "crun": "crun", "conmon": "conmon"}


@dataclass(frozen=True)
class ComponentVersion:
    name: str
    version: str
    details: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class OciRuntime:
    name: str
    path: str
    version: ComponentVersion


def parse_version_output(name: str, output: str) -> ComponentVersion:
    """Parse ``runc --version`` / ``conmon --version`` / ``crun --version`` output.

    runc prints ``runc version 1.1.5`` then ``commit: …`` and ``spec: …`` lines;
    conmon and crun print the same first line shape.
    """
    version = ""
    details: dict[str, str] = {}
    for line in output.splitlines():
        line = line.strip()
        if not version and " version " in line:
            version = line.split(" version ", 1)[1].strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            details[key.strip().lower()] = value.strip()
    return ComponentVersion(name=name, version=version or "unknown", details=details)


def locate(binary: str, configured: str = "") -> str:
    """Absolute path of ``binary``; a clear error naming the Debian package if absent."""
    path = configured or shutil.which(binary)
    if not path or not shutil.which(path):
        package = DEBIAN_PACKAGES.get(binary)
        hint = f" (install the Debian package {package})" if package else ""
        raise Unavailable(f"{configured or binary}: executable not found{hint}")
    return path


async def probe_version(name: str, path: str) -> ComponentVersion:
    process = await asyncio.create_subprocess_exec(
        path, "--version", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output, _ = await process.communicate()
    return parse_version_output(name, output.decode(errors="replace"))


def configured_runtimes(runtimes: Mapping[str, Any]) -> dict[str, str]:
    """Runtime name → configured path from daemon.json ``runtimes`` (runc always present)."""
    paths = {"runc": ""}
    for name, settings in runtimes.items():
        if not isinstance(settings, dict) or not isinstance(settings.get("path", ""), str):
            raise InvalidArgument(f"invalid runtimes entry {name!r}: expected {{\"path\": …}}")
        paths[name] = settings.get("path", "") or name
    return paths


async def discover(
    runtimes: Mapping[str, Any], default_runtime: str
) -> tuple[tuple[OciRuntime, ...], ComponentVersion]:
    """Locate and probe every configured runtime and conmon, concurrently."""
    paths = {name: locate(name, path) for name, path in configured_runtimes(runtimes).items()}
    if default_runtime not in paths:
        raise InvalidArgument(f"default-runtime {default_runtime!r} is not a configured runtime")
    conmon_path = locate("conmon")
    names = list(paths)
    versions = await asyncio.gather(
        *(probe_version(name, paths[name]) for name in names),
        probe_version("conmon", conmon_path),
    )
    found = tuple(
        OciRuntime(name=name, path=paths[name], version=ver)
        for name, ver in zip(names, versions[:-1], strict=True)
    )
    return found, versions[-1]
