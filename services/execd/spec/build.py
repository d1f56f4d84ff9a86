"""Build a container's OCI runtime spec (runc's config.json) the way dockerd does.

Each concern lives in its own module (process, users, capabilities, mounts,
devices, namespaces, limits, seccomp); this one reads the Docker fields and
puts the pieces together in dockerd's order. Nothing here touches the host but
reading the rootfs's passwd/group files and the host's device nodes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.common.errors import InvalidArgument
from services.common.users import resolve_user
from services.execd.spec import capabilities, hostfacts, seccomp
from services.execd.spec.devices import build_devices
from services.execd.spec.hostfacts import HostFacts
from services.execd.spec.initbinary import IN_CONTAINER_PATH, locate_init_binary
from services.execd.spec.inputs import SpecInputs
from services.execd.spec.limits import build_rlimits, check_sysctls, default_sysctls
from services.execd.spec.mounts import build_mounts
from services.execd.spec.namespaces import NamespaceModes, build_namespaces, parse_modes
from services.execd.spec.process import (
    check_process_strings,
    command_args,
    daemon_environment,
    merge_image_config,
    replace_or_append_env,
    str_list,
)
from services.execd.spec.security import (
    SECCOMP_DEFAULT,
    SECCOMP_UNCONFINED,
    SecurityOptions,
    parse_security_opts,
)

# runtime-spec version runc 1.1 reports (`runc --version`: "spec: 1.0.2-dev").
OCI_VERSION = "1.0.2-dev"

DEFAULT_MASKED_PATHS = (
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
)
DEFAULT_READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


@dataclass(frozen=True)
class _Context:
    """What several parts of the spec derive from the same Docker fields."""

    host: HostFacts
    config: Mapping[str, Any]  # the container's Config merged with the image's
    host_config: Mapping[str, Any]
    modes: NamespaceModes
    security: SecurityOptions
    privileged: bool
    hostname: str


def _context(inputs: SpecInputs) -> _Context:
    host = inputs.host or hostfacts.detect()
    host_config = inputs.host_config
    config = merge_image_config(inputs.config, inputs.image_config)
    modes = parse_modes(host_config, inputs.network_mode, host.cgroup2)
    security = parse_security_opts(
        str_list(host_config.get("SecurityOpt")) or [], inputs.daemon_no_new_privileges
    )
    return _Context(
        host=host,
        config=config,
        host_config=host_config,
        modes=modes,
        security=security,
        privileged=bool(host_config.get("Privileged")),
        hostname=container_hostname(inputs.container_id, config, modes, host),
    )


def container_hostname(
    container_id: str, config: Mapping[str, Any], modes: NamespaceModes, host: HostFacts
) -> str:
    """Config.Hostname, else the host's name on the host network, else the short ID."""
    if config.get("Hostname"):
        return str(config["Hostname"])
    if modes.network_host:
        return host.hostname
    return container_id[:12]


def _working_dir(text: str) -> str:
    if not text:
        return "/"
    if not text.startswith("/"):
        raise InvalidArgument(
            f"the working directory '{text}' is invalid, it needs to be an absolute path"
        )
    normalized = os.path.normpath(text)
    # /proc is mounted over the image's: a cwd there is a file descriptor of
    # the runtime (CVE-2024-21626), never a directory of the image.
    if normalized == "/proc" or normalized.startswith("/proc/"):
        raise InvalidArgument(
            f"the working directory '{text}' is invalid: it is inside /proc, "
            "which the container's procfs replaces"
        )
    return text


def _oom_score_adj(host_config: Mapping[str, Any]) -> int:
    value = int(host_config.get("OomScoreAdj") or 0)
    if not -1000 <= value <= 1000:
        raise InvalidArgument(
            f"Invalid value {value}, range for oom score adj is [-1000, 1000]"
        )
    return value


def _console_size(host_config: Mapping[str, Any]) -> dict[str, int] | None:
    size = host_config.get("ConsoleSize") or [0, 0]
    height, width = (int(size[0]), int(size[1])) if len(size) == 2 else (0, 0)
    if height > 0 or width > 0:
        return {"height": height, "width": width}
    return None


def _process_common(
    inputs: SpecInputs, ctx: _Context, caps: list[str], uid: int
) -> dict[str, Any]:
    """The parts of process.* that an exec inherits from its container."""
    process: dict[str, Any] = {"capabilities": capabilities.capability_sets(caps, uid)}
    rlimits = build_rlimits(
        list(ctx.host_config.get("Ulimits") or []), inputs.default_ulimits
    )
    if rlimits:
        process["rlimits"] = rlimits
    if ctx.security.no_new_privileges:
        process["noNewPrivileges"] = True
    process["oomScoreAdj"] = _oom_score_adj(ctx.host_config)
    return process


def _container_caps(ctx: _Context) -> list[str]:
    return capabilities.container_capabilities(
        str_list(ctx.host_config.get("CapAdd")) or [],
        str_list(ctx.host_config.get("CapDrop")) or [],
        ctx.privileged,
        ctx.host.last_cap,
        ctx.host.bounding_set,
    )


def _seccomp(inputs: SpecInputs, ctx: _Context, caps: list[str]) -> dict[str, Any] | None:
    """dockerd's WithSeccomp: none when unconfined or privileged, else the profile."""
    chosen = ctx.security.seccomp_profile
    if chosen == SECCOMP_UNCONFINED or ctx.privileged:
        return None
    if chosen == SECCOMP_DEFAULT:
        profile = seccomp.default_profile()
    elif chosen:
        profile = seccomp.load_profile(chosen)
    elif inputs.daemon_seccomp_profile == SECCOMP_UNCONFINED:
        return None
    elif inputs.daemon_seccomp_profile:
        profile = seccomp.load_profile(inputs.daemon_seccomp_profile)
    else:
        profile = seccomp.default_profile()
    return seccomp.to_oci(profile, ctx.host.arch, caps, ctx.host.kernel)


def _use_init(inputs: SpecInputs, ctx: _Context) -> bool:
    wanted = ctx.host_config.get("Init")
    enabled = inputs.daemon_init if wanted is None else bool(wanted)
    # An init only makes sense as pid 1 of a PID namespace of the container's own.
    return enabled and ctx.modes.pid_private


def _sysctls(ctx: _Context, namespaces: list[dict[str, str]]) -> dict[str, str]:
    sysctls = default_sysctls(ctx.modes.network_private, ctx.host)
    if ctx.config.get("Domainname"):
        # No OCI field for the NIS domain name; this sysctl has setdomainname's effect.
        sysctls["kernel.domainname"] = str(ctx.config["Domainname"])
    sysctls.update({str(k): str(v) for k, v in (ctx.host_config.get("Sysctls") or {}).items()})
    kinds = {ns["type"] for ns in namespaces}
    check_sysctls(
        sysctls,
        own_ipc="ipc" in kinds,
        host_network="network" not in kinds,
        own_uts="uts" in kinds,
    )
    return sysctls


def _paths(ctx: _Context, key: str, defaults: tuple[str, ...]) -> list[str]:
    """Masked/read-only paths: HostConfig's list when set, else Docker's (none if privileged)."""
    value = ctx.host_config.get(key)
    if value is not None:
        return [str(path) for path in value]
    return [] if ctx.privileged else list(defaults)


def build_spec(inputs: SpecInputs) -> dict[str, Any]:
    """The whole config.json of the container."""
    ctx = _context(inputs)
    config, host_config = ctx.config, ctx.host_config
    caps = _container_caps(ctx)
    tty = bool(config.get("Tty"))

    args = command_args(config)
    init_path = ""
    if _use_init(inputs, ctx):
        init_path = inputs.init_path or locate_init_binary()
        args = [IN_CONTAINER_PATH, "--", *args]
    user = resolve_user(
        inputs.rootfs, str(config.get("User") or ""), str_list(host_config.get("GroupAdd")) or []
    )
    process: dict[str, Any] = {"terminal": tty}
    if tty and (size := _console_size(host_config)):
        process["consoleSize"] = size
    process.update(
        user=user.to_oci(),
        args=args,
        env=daemon_environment(config, ctx.hostname, tty),
        cwd=_working_dir(str(config.get("WorkingDir") or "")),
    )
    process.update(_process_common(inputs, ctx, caps, user.uid))
    check_process_strings(process["args"], process["env"])

    readonly_rootfs = bool(host_config.get("ReadonlyRootfs"))
    shm_bind = inputs.shm_path
    if not shm_bind and ctx.modes.ipc_host:
        shm_bind = "/dev/shm"  # --ipc host shares the host's /dev/shm, as dockerd does
    plan = build_mounts(
        mounts=inputs.mounts,
        tmpfs=dict(host_config.get("Tmpfs") or {}),
        network_files={
            "/etc/resolv.conf": inputs.resolv_conf_path,
            "/etc/hostname": inputs.hostname_path,
            "/etc/hosts": inputs.hosts_path,
        },
        shm_size=int(host_config.get("ShmSize") or 0),
        shm_bind="" if ctx.modes.ipc_none else shm_bind,
        ipc_none=ctx.modes.ipc_none,
        readonly_rootfs=readonly_rootfs,
        privileged=ctx.privileged,
        init_path=init_path,
        mountinfo=inputs.host_mountinfo,
    )

    namespaces = build_namespaces(
        ctx.modes,
        netns_path=inputs.netns_path,
        pid_path=inputs.pid_namespace_path,
        ipc_path=inputs.ipc_namespace_path,
        uts_path=inputs.uts_namespace_path,
    )
    devices = build_devices(
        list(host_config.get("Devices") or []),
        str_list(host_config.get("DeviceCgroupRules")) or [],
        ctx.privileged,
    )
    linux: dict[str, Any] = {}
    if devices.devices:
        linux["devices"] = devices.devices
    linux["resources"] = {"devices": devices.rules}
    if inputs.cgroups_path:
        linux["cgroupsPath"] = inputs.cgroups_path
    linux["namespaces"] = namespaces
    profile = _seccomp(inputs, ctx, caps)
    if profile is not None:
        linux["seccomp"] = profile
    if plan.rootfs_propagation:
        linux["rootfsPropagation"] = plan.rootfs_propagation
    linux["maskedPaths"] = _paths(ctx, "MaskedPaths", DEFAULT_MASKED_PATHS)
    linux["readonlyPaths"] = _paths(ctx, "ReadonlyPaths", DEFAULT_READONLY_PATHS)
    sysctls = _sysctls(ctx, namespaces)
    if sysctls:
        linux["sysctl"] = sysctls

    spec: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": inputs.rootfs, "readonly": readonly_rootfs},
    }
    if not ctx.modes.uts_host:
        spec["hostname"] = ctx.hostname
    spec["mounts"] = plan.mounts
    annotations = host_config.get("Annotations") or {}
    if annotations:
        spec["annotations"] = {str(k): str(v) for k, v in annotations.items()}
    spec["linux"] = linux
    return spec


def build_exec_process(inputs: SpecInputs, exec_config: Mapping[str, Any]) -> dict[str, Any]:
    """process.json for ``runc exec --process`` of a Docker ExecConfig.

    The exec inherits its container's capabilities, rlimits, no_new_privileges
    and oom score (dockerd starts from the container's process spec); its own
    Cmd, Env (over the container's environment), WorkingDir (default: the
    container's), User (default: the container's) and Tty; Privileged gives it
    every capability.
    """
    ctx = _context(inputs)
    args = str_list(exec_config.get("Cmd")) or []
    if not args:
        raise InvalidArgument("No exec command specified")
    tty = bool(exec_config.get("Tty"))
    user_spec = str(exec_config.get("User") or ctx.config.get("User") or "")
    user = resolve_user(
        inputs.rootfs, user_spec, str_list(ctx.host_config.get("GroupAdd")) or []
    )
    env = replace_or_append_env(
        daemon_environment(ctx.config, ctx.hostname, tty),
        str_list(exec_config.get("Env")) or [],
    )
    cwd = str(exec_config.get("WorkingDir") or ctx.config.get("WorkingDir") or "")
    privileged = bool(exec_config.get("Privileged"))
    caps = (
        capabilities.host_capabilities(ctx.host.last_cap, ctx.host.bounding_set)
        if privileged else _container_caps(ctx)
    )

    process: dict[str, Any] = {"terminal": tty}
    if tty and (size := _console_size(exec_config)):
        process["consoleSize"] = size
    process.update(user=user.to_oci(), args=args, env=env, cwd=_working_dir(cwd))
    check_process_strings(args, env)
    # dockerd gives a privileged exec every set in full, whatever its user.
    process.update(_process_common(inputs, ctx, caps, 0 if privileged else user.uid))
    return process
