"""What this engine build is: version, commit, build time, interpreter.

Read once at import: none of it changes while the gateway runs, and ``/version``
must answer without touching the disk.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

ENGINE_NAME = "Dockyard"
PLATFORM_NAME = "Dockyard Engine"
_DIST = "dockyard"
_FALLBACK_VERSION = "0.1.0"


@dataclass(frozen=True)
class EngineBuild:
    version: str
    git_commit: str
    build_time: str
    """RFC 3339 with nanoseconds, as dockerd reports it (the CLI reformats it)."""
    python_version: str
    """Stands in for dockerd's ``GoVersion``, e.g. ``python3.11.2``."""


def _version() -> str:
    try:
        return metadata.version(_DIST)
    except metadata.PackageNotFoundError:
        return _FALLBACK_VERSION


def _git_commit(repo: Path) -> str:
    """The short commit of a source checkout, read from ``.git`` without running git."""
    git = repo / ".git"
    try:
        head = (git / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            ref = head[len("ref: "):]
            ref_file = git / ref
            if ref_file.exists():
                return ref_file.read_text().strip()[:7]
            for line in (git / "packed-refs").read_text().splitlines():
                if line.endswith(" " + ref):
                    return line.split()[0][:7]
            return ""  # a branch with no commit yet
        return head[:7]
    except OSError:
        return ""


def _build_time() -> str:
    """When this build was installed: the time of the package's distribution metadata."""
    try:
        dist = metadata.distribution(_DIST)
        files = dist.files or []
        stamp = min(
            (Path(str(dist.locate_file(f))).stat().st_mtime for f in files[:1]),
            default=Path(__file__).stat().st_mtime,
        )
    except (metadata.PackageNotFoundError, OSError):
        stamp = Path(__file__).stat().st_mtime
    return datetime.fromtimestamp(stamp, UTC).isoformat(timespec="microseconds").replace(
        "+00:00", "Z"
    )


def _load() -> EngineBuild:
    repo = Path(__file__).resolve().parent.parent
    return EngineBuild(
        version=_version(),
        git_commit=_git_commit(repo) or "unknown",
        build_time=_build_time(),
        python_version=f"python{platform.python_version()}",
    )


BUILD = _load()
