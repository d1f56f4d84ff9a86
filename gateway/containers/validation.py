"""The checks dockerd makes on a create body before anything is made.

Each failure is an :class:`InvalidArgument` (400) with dockerd's wording, so a
client that matches on it (or a user who searches for it) finds what they
expect. Checks that need other services (the image, a user-defined network)
live in :mod:`gateway.containers.create`.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.common.errors import InvalidArgument
from services.execd.signals import parse_signal

MIN_MEMORY = 6 * 1024 * 1024
"""dockerd's floor for memory limits and reservations (6 MiB)."""
MIN_HEALTH_DURATION_NS = 1_000_000
"""Healthcheck intervals shorter than 1ms are refused."""

RESTART_POLICIES = ("no", "always", "unless-stopped", "on-failure")
_MOUNT_TYPES = ("bind", "volume", "tmpfs", "npipe", "cluster")
_VOLUME_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
MAX_VOLUME_NAME = 255
_PROPAGATION = ("shared", "slave", "private", "rshared", "rslave", "rprivate")
_MODE_WORDS = {
    "rw": "access", "ro": "access", "z": "label", "Z": "label", "nocopy": "copy",
    "consistent": "consistency", "cached": "consistency", "delegated": "consistency",
    **{p: "propagation" for p in _PROPAGATION},
}
CAPABILITIES = frozenset({
    "AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "BPF", "CHECKPOINT_RESTORE",
    "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "IPC_LOCK", "IPC_OWNER",
    "KILL", "LEASE", "LINUX_IMMUTABLE", "MAC_ADMIN", "MAC_OVERRIDE", "MKNOD", "NET_ADMIN",
    "NET_BIND_SERVICE", "NET_BROADCAST", "NET_RAW", "PERFMON", "SETFCAP", "SETGID", "SETPCAP",
    "SETUID", "SYS_ADMIN", "SYS_BOOT", "SYS_CHROOT", "SYS_MODULE", "SYS_NICE", "SYS_PACCT",
    "SYS_PTRACE", "SYS_RAWIO", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "SYSLOG",
    "WAKE_ALARM",
})


@dataclass(frozen=True)
class HostLimits:
    """What the host offers, for the checks that depend on it."""

    ncpu: int
    runtimes: frozenset[str] = frozenset({"runc"})


INT64 = (-(1 << 63), (1 << 63) - 1, "int64")
UINT16 = (0, (1 << 16) - 1, "uint16")
UINT32 = (0, (1 << 32) - 1, "uint")
UINT64 = (0, (1 << 64) - 1, "uint64")


def _int(section: Mapping[str, Any], key: str, where: str = "HostConfig",
         bounds: tuple[int, int, str] = INT64) -> int:
    """An integer field as Go's decoder reads it into a field of ``bounds``' type."""
    low, high, go_type = bounds
    value = section.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(
            f"json: cannot unmarshal {type(value).__name__} into Go struct field "
            f"{where}.{key} of type {go_type}"
        )
    if not low <= value <= high:
        raise InvalidArgument(
            f"json: cannot unmarshal number {value} into Go struct field "
            f"{where}.{key} of type {go_type}"
        )
    return value


def _str(section: Mapping[str, Any], key: str) -> str:
    value = section.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidArgument(f"invalid {key}: expected a string")
    return value


def _list(section: Mapping[str, Any], key: str) -> Sequence[Any]:
    value = section.get(key)
    if value is None:
        return ()
    if not isinstance(value, list):
        raise InvalidArgument(f"invalid {key}: expected a list")
    return value


def _map(section: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = section.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidArgument(f"invalid {key}: expected an object")
    return value


def _string_map(section: Mapping[str, Any], key: str) -> Mapping[str, str]:
    """A ``map[string]string`` field (labels, sysctls, log options …)."""
    value = _map(section, key)
    if not all(isinstance(v, str) for v in value.values()):
        raise InvalidArgument(f"invalid {key}: expected an object of strings")
    return value


def _flag(section: Mapping[str, Any], key: str, where: str) -> bool:
    value = section.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidArgument(
            f"json: cannot unmarshal {type(value).__name__} into Go struct field "
            f"{where}.{key} of type bool"
        )
    return value


def console_size(section: Mapping[str, Any], where: str) -> tuple[int, int] | None:
    """``ConsoleSize``: null or ``[height, width]``, each fitting the runtime's 32 bits."""
    value = section.get("ConsoleSize")
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2:
        raise InvalidArgument(f"invalid {where}.ConsoleSize: expected [height, width]")
    sizes = {"height": value[0], "width": value[1]}
    height, width = (_int(sizes, name, f"{where}.ConsoleSize", UINT32) for name in sizes)
    return height, width


def validate_exec_start(body: Mapping[str, Any]) -> None:
    """ExecStartCheck's fields, checked before the connection is hijacked: after
    that, an error can only be written into the stream."""
    _flag(body, "Detach", "ExecStartCheck")
    _flag(body, "Tty", "ExecStartCheck")
    console_size(body, "ExecStartCheck")


def validate_config_types(config: Mapping[str, Any]) -> None:
    """The JSON types of a container Config, as Go's decoder holds them to (a commit's
    config too, which dockerd decodes but does not otherwise check)."""
    for key in ("WorkingDir", "StopSignal", "User", "Hostname", "Domainname"):
        _str(config, key)
    for entry in _list(config, "Env"):
        if not isinstance(entry, str):
            raise InvalidArgument(f"invalid environment variable: {entry}")
    for key in ("Cmd", "Entrypoint", "OnBuild", "Shell"):
        value = config.get(key)
        if isinstance(value, str) and key in ("Cmd", "Entrypoint"):
            continue  # the API accepts a single string as a one-word list
        if any(not isinstance(word, str) for word in _list(config, key)):
            raise InvalidArgument(f"invalid {key}: expected a list of strings")
    _map(config, "ExposedPorts")
    health = _map(config, "Healthcheck")
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"):
        _int(health, key, "HealthConfig")
    if any(not isinstance(word, str) for word in _list(health, "Test")):
        raise InvalidArgument("invalid Test: expected a list of strings")
    _string_map(config, "Labels")
    # map[string]struct{}: each mount point maps to an empty object.
    if not all(v is None or isinstance(v, dict) for v in _map(config, "Volumes").values()):
        raise InvalidArgument("invalid Volumes: expected an object of objects")


def validate_config(config: Mapping[str, Any]) -> None:
    """dockerd's validateContainerConfig: WorkingDir, StopSignal, Env, Healthcheck."""
    validate_config_types(config)
    workdir = _str(config, "WorkingDir")
    if workdir and not workdir.startswith("/"):
        raise InvalidArgument(
            f"the working directory '{workdir}' is invalid, it needs to be an absolute path"
        )
    stop_signal = _str(config, "StopSignal")
    if stop_signal:
        parse_signal(stop_signal)
    for entry in _list(config, "Env"):
        if not entry.partition("=")[0]:
            raise InvalidArgument(f"invalid environment variable: {entry}")
    _check_ports(_map(config, "ExposedPorts"))
    _validate_healthcheck(_map(config, "Healthcheck"))


def _validate_healthcheck(health: Mapping[str, Any]) -> None:
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval"):
        value = _int(health, key, "HealthConfig")
        if value != 0 and value < MIN_HEALTH_DURATION_NS:
            raise InvalidArgument(f"{key} in Healthcheck cannot be less than 1ms")
    if _int(health, "Retries", "HealthConfig") < 0:
        raise InvalidArgument("Retries in Healthcheck cannot be negative")


def validate_host_config(host_config: Mapping[str, Any], limits: HostLimits) -> None:
    """dockerd's validateHostConfig and verifyPlatformContainerSettings, in its order."""
    policy = _map(host_config, "RestartPolicy")
    policy_name = _str(policy, "Name")
    if host_config.get("AutoRemove") and policy_name not in ("", "no"):
        raise InvalidArgument("can't create 'AutoRemove' container with restart policy")
    for mount in _list(host_config, "Mounts"):
        if not isinstance(mount, dict):
            raise InvalidArgument("invalid Mounts: expected a list of objects")
        validate_mount(mount)
    for bind in _list(host_config, "Binds"):
        if not isinstance(bind, str):
            raise InvalidArgument("invalid Binds: expected a list of strings")
        parse_bind(bind)
    _check_duplicate_targets(host_config)
    for extra in _list(host_config, "ExtraHosts"):
        _validate_extra_host(str(extra))
    _check_port_bindings(_map(host_config, "PortBindings"))
    _validate_restart_policy(policy_name, _int(policy, "MaximumRetryCount", "RestartPolicy"))
    for key in ("CapAdd", "CapDrop"):
        for cap in _list(host_config, key):
            name = str(cap).upper()
            name = name if name == "ALL" or not name.startswith("CAP_") else name[4:]
            if name != "ALL" and name not in CAPABILITIES:
                raise InvalidArgument(f'invalid {key}: unknown capability: "{cap}"')
    isolation = _str(host_config, "Isolation")
    if isolation not in ("", "default"):
        raise InvalidArgument(f"invalid isolation '{isolation}' on linux")
    _validate_resources(host_config, limits)
    _validate_namespaces(host_config)
    runtime = _str(host_config, "Runtime")
    if runtime and runtime not in limits.runtimes:
        raise InvalidArgument(f"unknown or invalid runtime name: {runtime}")
    for target in _string_map(host_config, "Tmpfs"):
        _check_target(target, "tmpfs")
    log_config = _map(host_config, "LogConfig")
    _str(log_config, "Type")
    _string_map(log_config, "Config")
    for key in ("Sysctls", "StorageOpt", "Annotations"):
        _string_map(host_config, key)
    console_size(host_config, "HostConfig")


def _validate_restart_policy(name: str, retries: int) -> None:
    if name in ("always", "unless-stopped", "no"):
        if retries != 0:
            raise InvalidArgument(
                f"maximum retry count cannot be used with restart policy '{name}'"
            )
    elif name == "on-failure":
        if retries < 0:
            raise InvalidArgument("maximum retry count cannot be negative")
    elif name:
        raise InvalidArgument(f"invalid restart policy '{name}'")


def validate_update(body: Mapping[str, Any], limits: HostLimits) -> None:
    """dockerd's checks of a ``docker update`` body (its restart policy and resources)."""
    policy = _map(body, "RestartPolicy")
    _validate_restart_policy(_str(policy, "Name"),
                             _int(policy, "MaximumRetryCount", "RestartPolicy"))
    _validate_resources(body, limits, update=True)


def _validate_resources(hc: Mapping[str, Any], limits: HostLimits, update: bool = False) -> None:
    memory, swap = _int(hc, "Memory"), _int(hc, "MemorySwap")
    reservation = _int(hc, "MemoryReservation")
    if memory != 0 and memory < MIN_MEMORY:
        raise InvalidArgument("Minimum memory limit allowed is 6MB")
    if memory > 0 and swap > 0 and swap < memory:
        raise InvalidArgument(
            "Minimum memoryswap limit should be larger than memory limit, see usage"
        )
    if memory == 0 and swap > 0 and not update:  # an update keeps the memory already set
        raise InvalidArgument(
            "You should always set the Memory limit when using Memoryswap limit, see usage"
        )
    swappiness = hc.get("MemorySwappiness")
    if swappiness is not None and swappiness != -1:
        value = _int(hc, "MemorySwappiness")
        if not 0 <= value <= 100:
            raise InvalidArgument(
                f"Invalid value: {value}, valid memory swappiness range is 0-100"
            )
    if reservation > 0 and reservation < MIN_MEMORY:
        raise InvalidArgument("Minimum memory reservation allowed is 6MB")
    if memory > 0 and reservation > 0 and memory < reservation:
        raise InvalidArgument(
            "Minimum memory limit can not be less than memory reservation limit, see usage"
        )
    nano, period, quota = _int(hc, "NanoCpus"), _int(hc, "CpuPeriod"), _int(hc, "CpuQuota")
    if nano > 0 and period > 0:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Period cannot both be set")
    if nano > 0 and quota > 0:
        raise InvalidArgument("Conflicting options: Nano CPUs and CPU Quota cannot both be set")
    if nano < 0 or nano > limits.ncpu * 1_000_000_000:
        raise InvalidArgument(
            f"Range of CPUs is from 0.01 to {limits.ncpu}.00, as there are only "
            f"{limits.ncpu} CPUs available"
        )
    if _int(hc, "CpuShares") < 0:
        # dockerd only finds this when it starts the container; refusing it
        # here keeps a container that can never start from being made.
        raise InvalidArgument("shares: invalid argument")
    if period != 0 and not 1000 <= period <= 1_000_000:
        raise InvalidArgument(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
        )
    if 0 < quota < 1000:
        raise InvalidArgument("CPU cfs quota can not be less than 1ms (i.e. 1000)")
    cpuset = _str(hc, "CpusetCpus")
    if cpuset:
        cpus = _parse_cpuset(cpuset, "cpus")
        if max(cpus) >= limits.ncpu:
            available = "0" if limits.ncpu == 1 else f"0-{limits.ncpu - 1}"
            raise InvalidArgument(
                f"Requested CPUs are not available - requested {cpuset}, available: {available}"
            )
    mems = _str(hc, "CpusetMems")
    if mems:
        _parse_cpuset(mems, "mems")
    weight = _int(hc, "BlkioWeight", bounds=UINT16)
    if weight > 0 and not 10 <= weight <= 1000:
        raise InvalidArgument("Range of blkio weight is from 10 to 1000")
    _int(hc, "PidsLimit")
    for key in ("BlkioDeviceReadBps", "BlkioDeviceWriteBps",
                "BlkioDeviceReadIOps", "BlkioDeviceWriteIOps"):
        for device in _list(hc, key):
            if not isinstance(device, dict):
                raise InvalidArgument(f"invalid {key}: expected a list of objects")
            _str(device, "Path")
            _int(device, "Rate", "ThrottleDevice", UINT64)
    if _int(hc, "ShmSize") < 0:
        raise InvalidArgument("SHM size can not be less than 0")
    oom = _int(hc, "OomScoreAdj")
    if not -1000 <= oom <= 1000:
        raise InvalidArgument(f"Invalid value {oom}, range for oom score adj is [-1000, 1000]")


def _parse_cpuset(text: str, what: str) -> set[int]:
    """Linux list format (``0-2,4``); dockerd's wording when it does not parse."""
    cpus: set[int] = set()
    for part in text.split(","):
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise InvalidArgument(
                f"Invalid value {text} for cpuset {what}: invalid format: {text}"
            )
        first, last = int(low), int(high) if dash else int(low)
        if last < first:
            raise InvalidArgument(
                f"Invalid value {text} for cpuset {what}: invalid range format: {part}"
            )
        cpus.update(range(first, last + 1))
    return cpus


def _validate_namespaces(hc: Mapping[str, Any]) -> None:
    ipc = _str(hc, "IpcMode")
    if ipc not in ("", "none", "private", "shareable", "host") and not _container_mode(ipc):
        raise InvalidArgument(f"invalid IPC mode: {ipc}")
    pid = _str(hc, "PidMode")
    if pid not in ("", "host") and not _container_mode(pid):
        raise InvalidArgument(f"invalid PID mode: {pid}")
    uts = _str(hc, "UTSMode")
    if uts not in ("", "host"):
        raise InvalidArgument(f"invalid UTS mode: {uts}")
    cgroupns = _str(hc, "CgroupnsMode")
    if cgroupns not in ("", "host", "private"):
        raise InvalidArgument(f"invalid cgroup namespace mode: {cgroupns}")


def _container_mode(mode: str) -> bool:
    kind, _, ref = mode.partition(":")
    return kind == "container" and bool(ref)


def _validate_extra_host(entry: str) -> None:
    name, sep, address = entry.partition(":")
    if not sep or not name:
        # dockerd also accepts host=ip since 25.0
        name, sep, address = entry.partition("=")
    if not sep or not name:
        raise InvalidArgument(f'bad format for add-host: "{entry}"')
    if address == "host-gateway":
        return
    try:
        ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        raise InvalidArgument(f'invalid IP address in add-host: "{address}"') from None


def _port_number(text: str) -> bool:
    return text.isdigit() and 0 <= int(text) <= 65535


def _port_range(text: str) -> bool:
    if text == "":
        return True
    low, dash, high = text.partition("-")
    if not dash:
        return _port_number(low)
    return _port_number(low) and _port_number(high) and int(low) <= int(high)


def _check_ports(ports: Mapping[str, Any]) -> None:
    for key in ports:
        port, _, _proto = key.partition("/")
        if not _port_range(port) or not port:
            raise InvalidArgument(f'invalid port specification: "{port}"')


def _check_port_bindings(bindings: Mapping[str, Any]) -> None:
    for key, values in bindings.items():
        port, _, _proto = key.partition("/")
        if not port or not _port_number(port):
            raise InvalidArgument(f'invalid port specification: "{port}"')
        for binding in values or ():
            host_port = str((binding or {}).get("HostPort") or "")
            if not _port_range(host_port.partition("/")[0]):
                raise InvalidArgument(f'invalid port specification: "{host_port}"')


def _mount_error(kind: str, message: str) -> InvalidArgument:
    return InvalidArgument(f'invalid mount config for type "{kind}": {message}')


def _check_target(target: str, kind: str) -> None:
    if target == "/":
        raise _mount_error(kind, "invalid specification: destination can't be '/'")
    if not target.startswith("/"):
        raise _mount_error(kind, f"invalid mount path: '{target}' mount path must be absolute")


def validate_mount(mount: Mapping[str, Any]) -> None:
    """One ``HostConfig.Mounts`` entry (``--mount``): a bind's source must exist."""
    kind = _str(mount, "Type")
    target, source = _str(mount, "Target"), _str(mount, "Source")
    if kind not in _MOUNT_TYPES:
        raise _mount_error(kind, "mount type unknown")
    if not target:
        raise _mount_error(kind, "field Target must not be empty")
    _check_target(target, kind)
    if kind == "bind":
        if not source:
            raise _mount_error(kind, "field Source must not be empty")
        if not source.startswith("/"):
            raise _mount_error(kind, f"invalid mount path: '{source}' mount path must be absolute")
        for extra in ("VolumeOptions", "TmpfsOptions"):
            if mount.get(extra):
                raise _mount_error(kind, f"field {extra} must not be specified")
        if not os.path.lexists(source):
            raise _mount_error(kind, f"bind source path does not exist: {source}")
    elif kind == "volume":
        for extra in ("BindOptions", "TmpfsOptions"):
            if mount.get(extra):
                raise _mount_error(kind, f"field {extra} must not be specified")
        if source and not _volume_name_ok(source):
            raise _invalid_volume_name(source)
    elif kind == "tmpfs":
        if source:
            raise _mount_error(kind, "field Source must not be specified")
        for extra in ("BindOptions", "VolumeOptions"):
            if mount.get(extra):
                raise _mount_error(kind, f"field {extra} must not be specified")
    else:
        raise _mount_error(kind, "mount type not supported on this platform")


def _volume_name_ok(name: str) -> bool:
    # A local volume is a directory named after it: at most NAME_MAX (255) characters.
    return bool(_VOLUME_NAME.match(name)) and len(name) <= MAX_VOLUME_NAME


def _invalid_volume_name(name: str) -> InvalidArgument:
    if _VOLUME_NAME.match(name):
        return InvalidArgument(f"create {name}: volume name is too long ({len(name)} "
                               f"characters), names should be at most {MAX_VOLUME_NAME} "
                               "characters")
    return InvalidArgument(
        f'create {name}: "{name}" includes invalid characters for a local volume name, '
        'only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. '
        "If you intended to pass a host directory, use absolute path"
    )


@dataclass(frozen=True)
class BindSpec:
    """One ``HostConfig.Binds`` entry (``-v src:dst[:mode]``) taken apart."""

    source: str
    target: str
    mode: str

    @property
    def is_bind(self) -> bool:
        """A host path (bind) rather than a named volume."""
        return self.source.startswith("/")

    @property
    def read_only(self) -> bool:
        return "ro" in self.mode.split(",")

    @property
    def propagation(self) -> str:
        words = [w for w in self.mode.split(",") if w in _PROPAGATION]
        return words[0] if words else ("rprivate" if self.is_bind else "")


def parse_bind(raw: str) -> BindSpec:
    """dockerd's parser for ``Binds``; a missing bind source is made at start, not refused."""
    parts = raw.split(":")
    if len(parts) == 2 and _valid_mode(parts[1]):
        # "/foo:rw" is a destination with a mode: volumes need a source then.
        raise InvalidArgument(f"invalid volume specification: '{raw}'")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise InvalidArgument(f"invalid volume specification: '{raw}'")
    mode = parts[2] if len(parts) == 3 else ""
    if mode and not _valid_mode(mode):
        raise InvalidArgument(f"invalid mode: {mode}")
    spec = BindSpec(source=parts[0], target=parts[1], mode=mode)
    _check_target(spec.target, "bind" if spec.is_bind else "volume")
    if not spec.is_bind and not _volume_name_ok(spec.source):
        raise _invalid_volume_name(spec.source)
    return spec


def _valid_mode(mode: str) -> bool:
    seen: set[str] = set()
    for word in mode.split(","):
        kind = _MODE_WORDS.get(word)
        if kind is None or kind in seen:
            return False
        seen.add(kind)
    return True


def _check_duplicate_targets(hc: Mapping[str, Any]) -> None:
    seen: set[str] = set()
    targets = [parse_bind(b).target for b in _list(hc, "Binds")]
    targets += [str(m.get("Target", "")) for m in _list(hc, "Mounts")]
    for target in targets:
        clean = os.path.normpath(target)
        if clean in seen:
            raise InvalidArgument(f"Duplicate mount point: {target}")
        seen.add(clean)


def validate_networking_config(networking: Mapping[str, Any]) -> None:
    """dockerd's verifyNetworkingConfig: settings present, static addresses well formed."""
    for name, settings in _map(networking, "EndpointsConfig").items():
        if settings is None:
            raise InvalidArgument(f"no EndpointSettings for {name}")
        if not isinstance(settings, dict):
            raise InvalidArgument(f"invalid EndpointSettings for {name}: expected an object")
        _check_endpoint_types(settings)
        ipam = _map(settings, "IPAMConfig")
        v4, v6 = _str(ipam, "IPv4Address"), _str(ipam, "IPv6Address")
        if v4 and not _is_ip(v4, 4):
            raise InvalidArgument(f"invalid IPv4 address: {v4}")
        if v6 and not _is_ip(v6, 6):
            raise InvalidArgument(f"invalid IPv6 address: {v6}")


def _check_endpoint_types(settings: Mapping[str, Any]) -> None:
    """EndpointSettings' fields have the JSON types Go's decoder insists on."""
    for key in ("Aliases", "Links", "DNSNames"):
        if any(not isinstance(v, str) for v in _list(settings, key)):
            raise InvalidArgument(f"invalid {key}: expected a list of strings")
    _str(settings, "MacAddress")
    _string_map(settings, "DriverOpts")
    if any(not isinstance(v, str) for v in _list(_map(settings, "IPAMConfig"), "LinkLocalIPs")):
        raise InvalidArgument("invalid LinkLocalIPs: expected a list of strings")


def _is_ip(text: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(text).version == version
    except ValueError:
        return False
