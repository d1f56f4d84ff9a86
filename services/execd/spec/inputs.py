"""What the OCI spec of a container is built from.

The gateway's container record (Docker's ``Config`` and ``HostConfig``), the
image's config, and the host paths other services resolved (rootfs from imaged,
netns and /etc files from netd, cgroup path from cgroupd). Everything here is
plain data: :func:`services.execd.spec.build.build_spec` reads the rootfs's
``/etc/passwd`` and ``/etc/group`` and the host's device nodes, nothing else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from services.execd.spec.hostfacts import HostFacts


@dataclass(frozen=True)
class MountPoint:
    """A mount already resolved to the host (a volume's or bind's source path)."""

    destination: str
    source: str
    type: str  # "bind" | "volume" | "tmpfs"
    read_only: bool = False
    propagation: str = ""  # "", rprivate, private, rshared, shared, rslave, slave
    tmpfs_options: tuple[str, ...] = ()  # e.g. ("size=65536k", "mode=1777")
    # BindOptions.NonRecursive: "bind" instead of "rbind".
    non_recursive: bool = False


@dataclass(frozen=True)
class SpecInputs:
    container_id: str
    config: Mapping[str, Any]
    host_config: Mapping[str, Any]
    image_config: Mapping[str, Any]
    rootfs: str
    mounts: tuple[MountPoint, ...] = ()
    # "" with network_mode "host" = the host's netns; "" otherwise = a new one.
    netns_path: str = ""
    network_mode: str = "bridge"
    hosts_path: str = ""
    hostname_path: str = ""
    resolv_conf_path: str = ""
    # Host dir bound at /dev/shm (IpcMode shareable, host, container:); "" = a tmpfs.
    shm_path: str = ""
    # linux.cgroupsPath for runc; limits are not put in the spec (cgroupd applies them).
    cgroups_path: str = ""
    pid_namespace_path: str = ""
    ipc_namespace_path: str = ""
    uts_namespace_path: str = ""
    # --init: host path of the init binary, bind-mounted read-only at /sbin/docker-init.
    init_path: str = ""
    # daemon.json "init": run the init for containers whose HostConfig.Init is null.
    daemon_init: bool = False
    # daemon.json "default-ulimits": {"nofile": {"Name": "nofile", "Soft": 1, "Hard": 2}}.
    default_ulimits: Mapping[str, Any] = field(default_factory=dict)
    # daemon.json "no-new-privileges": the default before --security-opt.
    daemon_no_new_privileges: bool = False
    # daemon.json "seccomp-profile": a profile's JSON text, or "unconfined"; "" = built-in.
    daemon_seccomp_profile: str = ""
    # Facts about this host (cgroup version, kernel, arch, ...); None = detect once.
    host: HostFacts | None = None
    # The host's /proc/self/mountinfo, for shared/slave binds; None = read it then.
    host_mountinfo: str | None = None
