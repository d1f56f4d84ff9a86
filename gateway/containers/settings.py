"""Config and HostConfig as dockerd stores them at create.

The client's Config is merged with the image's defaults (dockerd's ``merge``),
and both are laid over Docker's full shapes with their zero values, so
``docker inspect`` shows every field whichever client created the container.
"""

from __future__ import annotations

import copy
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gateway.versioning import compare
from services.common.config import DaemonConfig
from services.common.errors import InvalidArgument

DEFAULT_SHM_SIZE = 64 * 1024 * 1024
LOG_DRIVERS = ("json-file", "local", "none")
"""Log drivers this engine can write; dockerd's other drivers are refused by name."""
LOG_OPTIONS = {
    "json-file": frozenset({"max-file", "max-size", "compress", "labels", "labels-regex",
                            "env", "env-regex", "tag"}),
    "local": frozenset({"max-file", "max-size", "compress"}),
}
"""The option names each driver accepts, as dockerd's drivers validate them."""
LOG_MODES = ("", "blocking", "non-blocking")
LOG_MODE_OPTIONS = frozenset({"mode", "max-buffer-size"})
"""Options of dockerd's log copier, accepted with every driver."""

# Docker's default masked and read-only /proc and /sys paths (oci.DefaultSpec).
MASKED_PATHS = (
    "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
    "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
    "/sys/firmware", "/sys/devices/virtual/powercap",
)
READONLY_PATHS = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")

_CONFIG_ZERO: dict[str, Any] = {
    "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False,
    "AttachStdout": False, "AttachStderr": False, "Tty": False, "OpenStdin": False,
    "StdinOnce": False, "Env": None, "Cmd": None, "Image": "", "Volumes": None,
    "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": None,
}

_HOST_CONFIG_ZERO: dict[str, Any] = {
    "Binds": None, "ContainerIDFile": "", "LogConfig": {"Type": "", "Config": {}},
    "NetworkMode": "", "PortBindings": {}, "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
    "AutoRemove": False, "VolumeDriver": "", "VolumesFrom": None, "ConsoleSize": [0, 0],
    "CapAdd": None, "CapDrop": None, "CgroupnsMode": "", "Dns": [], "DnsOptions": [],
    "DnsSearch": [], "ExtraHosts": None, "GroupAdd": None, "IpcMode": "", "Cgroup": "",
    "Links": None, "OomScoreAdj": 0, "PidMode": "", "Privileged": False,
    "PublishAllPorts": False, "ReadonlyRootfs": False, "SecurityOpt": None, "UTSMode": "",
    "UsernsMode": "", "ShmSize": 0, "Runtime": "", "Isolation": "", "CpuShares": 0,
    "Memory": 0, "NanoCpus": 0, "CgroupParent": "", "BlkioWeight": 0,
    "BlkioWeightDevice": [], "BlkioDeviceReadBps": [], "BlkioDeviceWriteBps": [],
    "BlkioDeviceReadIOps": [], "BlkioDeviceWriteIOps": [], "CpuPeriod": 0, "CpuQuota": 0,
    "CpuRealtimePeriod": 0, "CpuRealtimeRuntime": 0, "CpusetCpus": "", "CpusetMems": "",
    "Devices": [], "DeviceCgroupRules": None, "DeviceRequests": None, "MemoryReservation": 0,
    "MemorySwap": 0, "MemorySwappiness": None, "OomKillDisable": None, "PidsLimit": None,
    "Ulimits": [], "CpuCount": 0, "CpuPercent": 0, "IOMaximumIOps": 0,
    "IOMaximumBandwidth": 0, "MaskedPaths": None, "ReadonlyPaths": None,
}


def _words(value: Any) -> list[str] | None:
    """StrSlice: the API takes a list of strings or one string."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def _overlay(zero: Mapping[str, Any], given: Mapping[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(dict(zero))
    out.update({k: copy.deepcopy(v) for k, v in given.items()})
    return out


_HEALTH_FIELDS = ("Test", "Interval", "Timeout", "StartPeriod", "StartInterval", "Retries")


def health_config(given: Mapping[str, Any]) -> dict[str, Any]:
    """A Healthcheck as dockerd keeps it: Go's HealthConfig has every field omitempty,
    so a null or zero a client sends (docker-py sends ``"Timeout": null``) is left out."""
    return {key: given[key] for key in _HEALTH_FIELDS if given.get(key)}


def merge_image_config(user: Mapping[str, Any], image: Mapping[str, Any]) -> dict[str, Any]:
    """dockerd's merge of the image's Config into the client's (the client wins)."""
    out = _overlay(_CONFIG_ZERO, user)
    if isinstance(out.get("Healthcheck"), Mapping):
        out["Healthcheck"] = health_config(out["Healthcheck"])
    out["Cmd"], out["Entrypoint"] = _words(out.get("Cmd")), _words(out.get("Entrypoint"))
    if not out.get("User"):
        out["User"] = image.get("User") or ""
    image_ports = dict(image.get("ExposedPorts") or {})
    if image_ports or out.get("ExposedPorts"):
        out["ExposedPorts"] = {**image_ports, **dict(out.get("ExposedPorts") or {})}
    env = list(out.get("Env") or [])
    keys = {e.partition("=")[0] for e in env}
    env += [e for e in image.get("Env") or () if e.partition("=")[0] not in keys]
    out["Env"] = env or None
    out["Labels"] = {**dict(image.get("Labels") or {}), **dict(out.get("Labels") or {})}
    if not out["Entrypoint"]:
        if not out["Cmd"]:
            out["Cmd"] = _words(image.get("Cmd"))
            if image.get("ArgsEscaped"):
                out["ArgsEscaped"] = True
        if out["Entrypoint"] is None:
            out["Entrypoint"] = _words(image.get("Entrypoint"))
    image_health = image.get("Healthcheck")
    if image_health:
        health = dict(out.get("Healthcheck") or {})
        for key, value in image_health.items():
            if not health.get(key):
                health[key] = value
        out["Healthcheck"] = health
    if not out.get("WorkingDir"):
        out["WorkingDir"] = image.get("WorkingDir") or ""
    volumes = dict(image.get("Volumes") or {})
    volumes.update(out.get("Volumes") or {})
    out["Volumes"] = volumes or None
    if not out.get("StopSignal") and image.get("StopSignal"):
        out["StopSignal"] = image["StopSignal"]
    if out["Entrypoint"] == [""]:
        # --entrypoint "" clears the image's entrypoint.
        out["Entrypoint"] = None
    if not out["Entrypoint"] and not out["Cmd"]:
        raise InvalidArgument("No command specified")
    return out


def command_of(config: Mapping[str, Any]) -> tuple[str, tuple[str, ...]]:
    """Path and Args as inspect shows them: the first word of Entrypoint+Cmd, then the rest."""
    words = [*(config.get("Entrypoint") or ()), *(config.get("Cmd") or ())]
    return words[0], tuple(words[1:])


def default_hostname(container_id: str, network_mode: str) -> str:
    """The host's name with ``--network host``, otherwise the short ID."""
    return socket.gethostname() if network_mode == "host" else container_id[:12]


def _cgroup_v2() -> bool:
    return Path("/sys/fs/cgroup/cgroup.controllers").exists()


def fill_host_config(
    given: Mapping[str, Any], daemon: DaemonConfig, api_version: str
) -> dict[str, Any]:
    """HostConfig with dockerd's defaults filled in (adaptContainerSettings and friends)."""
    hc = _overlay(_HOST_CONFIG_ZERO, given)
    mode = str(hc.get("NetworkMode") or "")
    if compare(api_version, "1.44") >= 0:
        # Since API 1.44 dockerd records the network it chose, not "default".
        hc["NetworkMode"] = "bridge" if mode in ("", "default") else mode
    else:
        hc["NetworkMode"] = mode or "default"
    hc["LogConfig"] = _log_config(hc.get("LogConfig") or {}, daemon)
    policy = dict(hc.get("RestartPolicy") or {})
    hc["RestartPolicy"] = {
        "Name": policy.get("Name") or "no",
        "MaximumRetryCount": int(policy.get("MaximumRetryCount") or 0),
    }
    if not hc.get("ShmSize"):
        hc["ShmSize"] = DEFAULT_SHM_SIZE
    memory = int(hc.get("Memory") or 0)
    if memory > 0 and not hc.get("MemorySwap"):
        hc["MemorySwap"] = memory * 2
    if hc.get("MemorySwappiness") == -1:
        hc["MemorySwappiness"] = None
    if not hc.get("IpcMode"):
        hc["IpcMode"] = "shareable" if compare(api_version, "1.40") < 0 else "private"
    if not hc.get("CgroupnsMode"):
        hc["CgroupnsMode"] = "private" if _cgroup_v2() else "host"
    if hc.get("OomKillDisable") is None:
        hc["OomKillDisable"] = False
    pids = hc.get("PidsLimit")
    if pids is not None and int(pids) <= 0:
        hc["PidsLimit"] = None  # 0 and negative values mean "unlimited"
    if not hc.get("Runtime"):
        hc["Runtime"] = daemon.default_runtime or "runc"
    if compare(api_version, "1.25") < 0:
        hc["AutoRemove"] = False  # older clients remove containers themselves
    if not hc.get("Privileged"):
        if hc.get("MaskedPaths") is None:
            hc["MaskedPaths"] = list(MASKED_PATHS)
        if hc.get("ReadonlyPaths") is None:
            hc["ReadonlyPaths"] = list(READONLY_PATHS)
    for key in ("KernelMemory", "KernelMemoryTCP"):
        hc.pop(key, None)  # removed from the API in 1.42
    return hc


def _log_config(given: Mapping[str, Any], daemon: DaemonConfig) -> dict[str, Any]:
    kind = str(given.get("Type") or daemon.log_driver or "json-file")
    options = {str(k): str(v) for k, v in dict(given.get("Config") or {}).items()}
    if kind == daemon.log_driver:
        options = {**dict(daemon.log_opts), **options}
    if kind not in LOG_DRIVERS:
        raise InvalidArgument(
            f"failed to get logging factory: logger: no log driver named '{kind}' is registered"
        )
    _check_log_options(kind, options)
    return {"Type": kind, "Config": options}


def _check_log_options(kind: str, options: Mapping[str, str]) -> None:
    """dockerd's ValidateLogOpts at create: the mode, then the driver's own option names."""
    if kind == "none":
        return  # dockerd checks nothing for it
    mode = options.get("mode", "")
    if mode not in LOG_MODES:
        raise InvalidArgument(f"logger: logging mode not supported: {mode}")
    if "max-buffer-size" in options and mode != "non-blocking":
        raise InvalidArgument(
            "logger: max-buffer-size option is only supported with 'mode=non-blocking'")
    known = LOG_OPTIONS[kind]
    for key in options:
        if key not in known and key not in LOG_MODE_OPTIONS:
            raise InvalidArgument(f"unknown log opt '{key}' for {kind} log driver")
