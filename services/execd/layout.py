"""Where execd keeps each container's runtime files.

Volatile files (bundles, runc state, exit files, attach sockets) live under the
exec-root, like dockerd's /run/docker; logs live under the data-root so they
survive a reboot, like /var/lib/docker/containers/<id>/.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RuntimeLayout:
    data_root: Path
    exec_root: Path

    @property
    def runc_root(self) -> Path:
        """runc's --root: Dockyard's own, so a Docker on the host never sees our containers."""
        return self.exec_root / "runc"

    @property
    def exits_dir(self) -> Path:
        """conmon writes ``<container id>`` here with the exit code when the process ends."""
        return self.exec_root / "execd" / "exits"

    @property
    def bundles_dir(self) -> Path:
        return self.exec_root / "execd" / "bundles"

    def bundle(self, container_id: str) -> Path:
        """config.json, conmon's pid files, attach socket and ctl fifo of one container."""
        return self.bundles_dir / container_id

    def container_dir(self, container_id: str) -> Path:
        return self.data_root / "containers" / container_id

    def default_log_path(self, container_id: str) -> Path:
        return self.container_dir(container_id) / f"{container_id}-json.log"

    def exec_dir(self, exec_id: str) -> Path:
        return self.exec_root / "execd" / "execs" / exec_id

    def ensure(self) -> None:
        for directory in (self.runc_root, self.exits_dir, self.bundles_dir):
            directory.mkdir(parents=True, exist_ok=True, mode=0o700)
