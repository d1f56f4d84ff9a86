"""Where each Dockyard process finds the others: every path derives from the roots.

Two clusters with different roots never share a file, which is what lets them
run side by side on one host.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SERVICE_NAMES: tuple[str, ...] = ("imaged", "netd", "cgroupd", "execd")
"""The gRPC services, in start order."""


@dataclass(frozen=True)
class ClusterPaths:
    """The files of one cluster, derived from its data-root and exec-root."""

    data_root: Path
    exec_root: Path

    @property
    def services_dir(self) -> Path:
        return self.exec_root / "services"

    def service_socket(self, service: str) -> Path:
        """The unix socket a service's gRPC server listens on."""
        return self.services_dir / f"{service}.sock"

    def service_target(self, service: str) -> str:
        """The gRPC target string for a service's socket."""
        return f"unix:{self.service_socket(service)}"

    @property
    def runtime_config(self) -> Path:
        """The effective configuration the launcher hands to every child."""
        return self.exec_root / "config.json"

    @property
    def launcher_state(self) -> Path:
        """What ``dockyard up`` started: pids and start times, for status/down."""
        return self.exec_root / "launcher.json"

    @property
    def launcher_pid(self) -> Path:
        return self.exec_root / "dockyard.pid"

    @property
    def metrics_dir(self) -> Path:
        """prometheus_client multiprocess files of every Dockyard process."""
        return self.exec_root / "metrics"

    @property
    def logs_dir(self) -> Path:
        return self.data_root / "logs"

    @property
    def etcd_data(self) -> Path:
        return self.data_root / "etcd"
