"""``daemon.json`` with dockerd's key names, plus Dockyard's own keys.

The launcher merges the file with its command-line flags (a key given both ways
is an error, as in dockerd) and writes the effective configuration for its
children, which load it with :func:`load_runtime_config`.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from services.common.errors import InvalidArgument

DEFAULT_DATA_ROOT = "/var/lib/dockyard"
DEFAULT_EXEC_ROOT = "/run/dockyard"
DEFAULT_HOST = "unix:///run/dockyard/docker.sock"
DEFAULT_CONFIG_FILE = "/etc/dockyard/daemon.json"
LOG_LEVELS = ("debug", "info", "warn", "error", "fatal")
CGROUP_DRIVERS = ("cgroupfs", "systemd")
DEFAULT_BRIDGE = "dockyard0"
DEFAULT_CHAIN_PREFIX = "DOCKYARD"
# A Linux interface name is at most 15 bytes; an iptables chain name at most 28,
# and the longest chain netd derives is "<prefix>-ISOLATION-STAGE-1" (prefix + 18).
_BRIDGE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,15}$")
_CHAIN_PREFIX = re.compile(r"^[A-Z][A-Z0-9_]{0,9}$")

# dockerd settings Dockyard accepts so that an existing daemon.json loads, but
# that do not change its behaviour yet. They are kept in ``DaemonConfig.extra``.
_ACCEPTED_DOCKERD_KEYS = frozenset(
    {
        "allow-nondistributable-artifacts", "api-cors-header", "authorization-plugins",
        "builder", "cdi-spec-dirs", "containerd", "containerd-namespace",
        "containerd-plugin-namespace", "cpu-rt-period", "cpu-rt-runtime", "data-root",
        "default-cgroupns-mode", "default-gateway", "default-gateway-v6",
        "default-ipc-mode", "default-network-opts", "default-shm-size", "dns",
        "dns-opts", "dns-search", "exec-root", "experimental", "features", "fixed-cidr",
        "fixed-cidr-v6", "host-gateway-ip", "hosts", "icc", "init", "init-path",
        "ip", "ip-forward", "ip-forward-no-drop", "ip-masq", "ip6tables", "ipv6",
        "labels", "max-concurrent-downloads", "max-concurrent-uploads",
        "max-download-attempts", "mtu", "no-new-privileges", "node-generic-resources",
        "oom-score-adjust", "pidfile", "raw-logs", "seccomp-profile", "selinux-enabled",
        "shutdown-timeout", "storage-opts", "swarm-default-advertise-addr",
        "userland-proxy", "userland-proxy-path", "userns-remap", "proxies",
    }
)


def _as_list_of_str(key: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise InvalidArgument(f"invalid value for {key}: expected a list of strings")
    return list(value)


def _as_bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InvalidArgument(f"invalid value for {key}: expected true or false")
    return value


def _as_str(key: str, value: Any) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(f"invalid value for {key}: expected a string")
    return value


def _as_str_map(key: str, value: Any) -> dict[str, str]:
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidArgument(f"invalid value for {key}: expected an object of strings")
    return dict(value)


def _as_object(key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidArgument(f"invalid value for {key}: expected an object")
    return dict(value)


def _check_host(host: str) -> str:
    if host.startswith("unix://"):
        if not host[len("unix://") :].startswith("/"):
            raise InvalidArgument(f"invalid host {host!r}: unix socket path must be absolute")
        return host
    if host.startswith("tcp://"):
        parse_tcp_address(host[len("tcp://") :], what="host")
        return host
    raise InvalidArgument(f"invalid host {host!r}: expected unix:///path or tcp://host:port")


def parse_tcp_address(address: str, *, what: str) -> tuple[str, int]:
    """Split ``host:port`` (``[v6]:port`` too); the port is required."""
    host, sep, port_text = address.rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise InvalidArgument(f"invalid {what} address {address!r}: expected host:port")
    host = host.strip("[]") or "0.0.0.0"
    return host, int(port_text)


def _check_cidr(key: str, value: str) -> str:
    try:
        ipaddress.ip_interface(value)
    except ValueError as exc:
        raise InvalidArgument(f"invalid {key} {value!r}: {exc}") from None
    if "/" not in value:
        raise InvalidArgument(f"invalid {key} {value!r}: expected an address with a prefix")
    return value


@dataclass(frozen=True)
class AddressPool:
    """One entry of ``default-address-pools``: carve ``size``-prefix subnets from ``base``."""

    base: str
    size: int


@dataclass(frozen=True)
class DaemonConfig:
    """The effective configuration of one Dockyard cluster."""

    data_root: str = DEFAULT_DATA_ROOT
    exec_root: str = DEFAULT_EXEC_ROOT
    hosts: tuple[str, ...] = (DEFAULT_HOST,)
    bip: str = ""
    default_address_pools: tuple[AddressPool, ...] = ()
    insecure_registries: tuple[str, ...] = ()
    registry_mirrors: tuple[str, ...] = ()
    storage_driver: str = "overlay2"
    exec_opts: tuple[str, ...] = ()
    live_restore: bool = True
    log_driver: str = "json-file"
    log_opts: Mapping[str, str] = field(default_factory=dict)
    log_level: str = "info"
    debug: bool = False
    default_ulimits: Mapping[str, Any] = field(default_factory=dict)
    runtimes: Mapping[str, Any] = field(default_factory=dict)
    default_runtime: str = "runc"
    tls: bool = False
    tlsverify: bool = False
    tlscacert: str = ""
    tlscert: str = ""
    tlskey: str = ""
    metrics_addr: str = ""
    iptables: bool = True
    group: str = "docker"
    cgroup_parent: str = "dockyard"
    # dockerd's `bridge`: the device of the default bridge network. Unlike
    # dockerd, netd creates it when missing (and owns it from then on).
    bridge: str = DEFAULT_BRIDGE
    # Dockyard's own `iptables-chain-prefix`: names this cluster's iptables chains
    # (<prefix>-FORWARD, <prefix>-POSTROUTING, <prefix>-ISOLATION-STAGE-1/2) and
    # marks the links it makes (alias "dockyard:<prefix>:..."), so clusters that
    # share a host (tests run several) never touch each other's rules or links.
    iptables_chain_prefix: str = DEFAULT_CHAIN_PREFIX
    etcd_endpoints: tuple[str, ...] = ()
    services: Mapping[str, Any] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def cgroup_driver(self) -> str:
        """``native.cgroupdriver`` from ``exec-opts``; ``cgroupfs`` unless set."""
        for opt in self.exec_opts:
            name, _, value = opt.partition("=")
            if name.strip() == "native.cgroupdriver":
                return value.strip()
        return "cgroupfs"

    def to_json(self) -> dict[str, Any]:
        """The daemon.json form of this configuration (dockerd key names).

        Settings left at their defaults are omitted, so the file reads like a
        hand-written daemon.json and parses back to an equal configuration.
        """
        out: dict[str, Any] = dict(self.extra)
        defaults = DaemonConfig()
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name == "extra" or value == getattr(defaults, f.name):
                continue
            if f.name == "default_address_pools":
                value = [{"base": p.base, "size": p.size} for p in value]
            elif isinstance(value, tuple):
                value = list(value)
            elif isinstance(value, Mapping):
                value = dict(value)
            out[f.name.replace("_", "-")] = value
        return out


def _parse_pools(value: Any) -> tuple[AddressPool, ...]:
    if not isinstance(value, list):
        raise InvalidArgument("invalid value for default-address-pools: expected a list")
    pools = []
    for entry in value:
        if not isinstance(entry, dict) or set(entry) != {"base", "size"}:
            raise InvalidArgument(
                "invalid default-address-pools entry: expected {\"base\": CIDR, \"size\": N}"
            )
        base = _check_cidr("default-address-pools base", _as_str("base", entry["base"]))
        size = entry["size"]
        prefix = ipaddress.ip_network(base, strict=False).prefixlen
        if not isinstance(size, int) or not prefix <= size <= 32:
            raise InvalidArgument(
                f"invalid default-address-pools size {size!r}: must be between {prefix} and 32"
            )
        pools.append(AddressPool(base=base, size=size))
    return tuple(pools)


def _matching(pattern: re.Pattern[str], what: str) -> Any:
    def parse(key: str, value: Any) -> str:
        text = _as_str(key, value)
        if not pattern.match(text):
            raise InvalidArgument(f"invalid {key} {text!r}: {what}")
        return text

    return parse


def _parse_exec_opts(value: Any) -> tuple[str, ...]:
    opts = _as_list_of_str("exec-opts", value)
    for opt in opts:
        name, sep, setting = opt.partition("=")
        if not sep:
            raise InvalidArgument(f"invalid exec-opt {opt!r}: expected key=value")
        if name.strip() == "native.cgroupdriver" and setting.strip() not in CGROUP_DRIVERS:
            raise InvalidArgument(
                f"native.cgroupdriver option {setting.strip()} not supported"
            )
    return tuple(opts)


def _parse_services(value: Any) -> dict[str, Any]:
    from services.common.paths import SERVICE_NAMES

    services = _as_object("services", value)
    for name, settings in services.items():
        if name not in SERVICE_NAMES:
            raise InvalidArgument(
                f"invalid services entry {name!r}: expected one of {', '.join(SERVICE_NAMES)}"
            )
        entry = _as_object(f"services.{name}", settings)
        unknown = set(entry) - {"address"}
        if unknown:
            raise InvalidArgument(
                f"invalid services.{name}: unknown setting {', '.join(sorted(unknown))}"
            )
        if "address" in entry:
            from services.common.endpoints import check_address

            check_address(name, _as_str(f"services.{name}.address", entry["address"]))
    return services


# key → (DaemonConfig field, parser). Every key Dockyard acts on is here.
_PARSERS: dict[str, tuple[str, Any]] = {
    "data-root": ("data_root", _as_str),
    "exec-root": ("exec_root", _as_str),
    "hosts": ("hosts", lambda k, v: tuple(_check_host(h) for h in _as_list_of_str(k, v))),
    "bip": ("bip", lambda k, v: _check_cidr(k, _as_str(k, v))),
    "default-address-pools": ("default_address_pools", lambda k, v: _parse_pools(v)),
    "insecure-registries": ("insecure_registries", lambda k, v: tuple(_as_list_of_str(k, v))),
    "registry-mirrors": ("registry_mirrors", lambda k, v: tuple(_as_list_of_str(k, v))),
    "storage-driver": ("storage_driver", _as_str),
    "exec-opts": ("exec_opts", lambda k, v: _parse_exec_opts(v)),
    "live-restore": ("live_restore", _as_bool),
    "log-driver": ("log_driver", _as_str),
    "log-opts": ("log_opts", _as_str_map),
    "log-level": ("log_level", _as_str),
    "debug": ("debug", _as_bool),
    "default-ulimits": ("default_ulimits", _as_object),
    "runtimes": ("runtimes", _as_object),
    "default-runtime": ("default_runtime", _as_str),
    "tls": ("tls", _as_bool),
    "tlsverify": ("tlsverify", _as_bool),
    "tlscacert": ("tlscacert", _as_str),
    "tlscert": ("tlscert", _as_str),
    "tlskey": ("tlskey", _as_str),
    "metrics-addr": ("metrics_addr", _as_str),
    "iptables": ("iptables", _as_bool),
    "group": ("group", _as_str),
    "cgroup-parent": ("cgroup_parent", _as_str),
    "bridge": ("bridge", _matching(_BRIDGE_NAME, "expected an interface name of 1-15 characters")),
    "iptables-chain-prefix": (
        "iptables_chain_prefix",
        _matching(_CHAIN_PREFIX, "expected 1-10 upper-case letters, digits or _"),
    ),
    "etcd-endpoints": ("etcd_endpoints", lambda k, v: tuple(_as_list_of_str(k, v))),
    "services": ("services", lambda k, v: _parse_services(v)),
}

KNOWN_KEYS = frozenset(_PARSERS) | _ACCEPTED_DOCKERD_KEYS


def _config_error(source: str, detail: str) -> InvalidArgument:
    return InvalidArgument(f"unable to configure the Dockyard daemon with file {source}: {detail}")


def build_config(settings: Mapping[str, Any], *, source: str = "<flags>") -> DaemonConfig:
    """Validate daemon.json-shaped ``settings`` into a :class:`DaemonConfig`."""
    unknown = sorted(set(settings) - KNOWN_KEYS)
    if unknown:
        raise _config_error(
            source,
            "the following directives don't match any configuration option: "
            + ", ".join(unknown),
        )
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, raw in settings.items():
        if key in _PARSERS:
            name, parse = _PARSERS[key]
            try:
                values[name] = parse(key, raw)
            except InvalidArgument as exc:
                raise _config_error(source, exc.message) from None
        else:
            extra[key] = raw
    config = DaemonConfig(**values, extra=extra)
    if config.log_level not in LOG_LEVELS:
        raise _config_error(source, f"invalid log-level {config.log_level!r}")
    if config.metrics_addr:
        try:
            parse_tcp_address(config.metrics_addr, what="metrics-addr")
        except InvalidArgument as exc:
            raise _config_error(source, exc.message) from None
    for root in ("data_root", "exec_root"):
        if not getattr(config, root).startswith("/"):
            raise _config_error(source, f"{root.replace('_', '-')} must be an absolute path")
    return config


def read_config_file(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; a clear error when it is not one."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise _config_error(str(path), exc.strerror or str(exc)) from None
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _config_error(str(path), f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _config_error(str(path), "the file must hold a JSON object")
    return data


def merge_file_and_flags(
    file_settings: Mapping[str, Any], flag_settings: Mapping[str, Any], *, source: str
) -> DaemonConfig:
    """Combine daemon.json with flags; a key set both ways is an error, as in dockerd."""
    both = sorted(set(file_settings) & set(flag_settings))
    if both:
        detail = ", ".join(
            f"{key}: (from flag: {flag_settings[key]}, from file: {file_settings[key]})"
            for key in both
        )
        raise _config_error(
            source,
            "the following directives are specified both as a flag and in the configuration "
            "file: " + detail,
        )
    return build_config({**file_settings, **flag_settings}, source=source)


def load_runtime_config(path: Path) -> DaemonConfig:
    """The effective configuration the launcher wrote for its children."""
    return build_config(read_config_file(path), source=str(path))
