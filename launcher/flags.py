"""dockerd-style command-line flags, and their translation into daemon.json keys.

Only flags the user actually gave become keys: that is what lets
``merge_file_and_flags`` refuse a setting given both in the file and as a flag,
as dockerd does.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from services.common.config import (
    DEFAULT_CONFIG_FILE,
    DEFAULT_EXEC_ROOT,
    DaemonConfig,
    merge_file_and_flags,
    read_config_file,
)
from services.common.errors import InvalidArgument

_TRUE = frozenset({"1", "t", "true", "yes", "on"})
_FALSE = frozenset({"0", "f", "false", "no", "off"})


def parse_bool(text: str) -> bool:
    """Go's ``strconv.ParseBool`` spellings, so ``--iptables=false`` works as with dockerd."""
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"invalid boolean value {text!r}")


def _bool_flag(parser: argparse.ArgumentParser, *names: str, help: str) -> None:
    # nargs="?" + const=True: "--tls" means true, "--tls=false" means false.
    parser.add_argument(
        *names, nargs="?", const=True, default=None, type=parse_bool, metavar="BOOL", help=help
    )


def add_config_flags(parser: argparse.ArgumentParser) -> None:
    """The dockerd flags ``dockyard up`` accepts; every default is None (= not given)."""
    parser.add_argument("--config-file", default=None, help="daemon.json to read "
                        f"(default {DEFAULT_CONFIG_FILE}, when it exists)")
    parser.add_argument("--data-root", default=None, help="root of persistent state")
    parser.add_argument("--exec-root", default=None, help="root of runtime state")
    parser.add_argument("-H", "--host", action="append", default=None, metavar="HOST",
                        help="socket to listen on: unix:///path or tcp://addr:port (repeatable)")
    parser.add_argument("--etcd-endpoints", default=None, metavar="URLS",
                        help="comma-separated etcd client URLs; no embedded etcd when set")
    parser.add_argument("--bip", default=None, metavar="CIDR", help="address of the bridge")
    _bool_flag(parser, "--iptables", help="manage iptables rules (default true)")
    _bool_flag(parser, "--tls", help="use TLS on TCP hosts")
    _bool_flag(parser, "--tlsverify", help="use TLS and verify client certificates")
    parser.add_argument("--tlscacert", default=None, help="CA of trusted client certificates")
    parser.add_argument("--tlscert", default=None, help="server TLS certificate")
    parser.add_argument("--tlskey", default=None, help="server TLS key")
    parser.add_argument("--metrics-addr", default=None, metavar="ADDR",
                        help="host:port of the Prometheus /metrics endpoint")
    _bool_flag(parser, "-D", "--debug", help="debug logging")
    parser.add_argument("-l", "--log-level", default=None, help="debug, info, warn, error, fatal")
    parser.add_argument("--insecure-registry", action="append", default=None,
                        help="registry reached over plain HTTP (repeatable)")
    parser.add_argument("--registry-mirror", action="append", default=None,
                        help="Docker Hub mirror (repeatable)")
    parser.add_argument("--exec-opt", action="append", default=None,
                        help="runtime option, e.g. native.cgroupdriver=systemd (repeatable)")
    parser.add_argument("--default-address-pool", action="append", default=None,
                        metavar="base=CIDR,size=N", help="pool for new networks (repeatable)")
    parser.add_argument("-s", "--storage-driver", default=None, help="storage driver")
    parser.add_argument("-G", "--group", default=None, help="group owning the API socket")
    parser.add_argument("--cgroup-parent", default=None, help="parent cgroup of containers")
    parser.add_argument("--default-runtime", default=None, help="OCI runtime of containers")
    _bool_flag(parser, "--live-restore", help="keep containers running while Dockyard is down")


def _absolute(value: str) -> str:
    # dockerd resolves relative roots against the working directory; so do we,
    # since the children run with "/" as their working directory.
    return str(Path(value).resolve())


def _split_endpoints(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


def _parse_pool(value: str) -> dict[str, Any]:
    fields: dict[str, str] = {}
    for part in value.split(","):
        name, sep, setting = part.partition("=")
        if not sep:
            break
        fields[name.strip()] = setting.strip()
    if set(fields) != {"base", "size"} or not fields.get("size", "").isdigit():
        raise InvalidArgument(f"invalid default-address-pool {value!r}: expected base=CIDR,size=N")
    return {"base": fields["base"], "size": int(fields["size"])}


# argparse dest → (daemon.json key, conversion of the parsed value).
_FLAG_KEYS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "data_root": ("data-root", _absolute),
    "exec_root": ("exec-root", _absolute),
    "host": ("hosts", list),
    "etcd_endpoints": ("etcd-endpoints", _split_endpoints),
    "bip": ("bip", str),
    "iptables": ("iptables", bool),
    "tls": ("tls", bool),
    "tlsverify": ("tlsverify", bool),
    "tlscacert": ("tlscacert", _absolute),
    "tlscert": ("tlscert", _absolute),
    "tlskey": ("tlskey", _absolute),
    "metrics_addr": ("metrics-addr", str),
    "debug": ("debug", bool),
    "log_level": ("log-level", str),
    "insecure_registry": ("insecure-registries", list),
    "registry_mirror": ("registry-mirrors", list),
    "exec_opt": ("exec-opts", list),
    "default_address_pool": ("default-address-pools", lambda v: [_parse_pool(p) for p in v]),
    "storage_driver": ("storage-driver", str),
    "group": ("group", str),
    "cgroup_parent": ("cgroup-parent", str),
    "default_runtime": ("default-runtime", str),
    "live_restore": ("live-restore", bool),
}


def flags_to_settings(flags: Mapping[str, Any]) -> dict[str, Any]:
    """The daemon.json-shaped settings of the flags that were given (value not None)."""
    settings: dict[str, Any] = {}
    for dest, (key, convert) in _FLAG_KEYS.items():
        value = flags.get(dest)
        if value is not None:
            settings[key] = convert(value)
    return settings


def _file_settings(config_file: str | None) -> tuple[dict[str, Any], str]:
    """daemon.json's settings and its name; the default file only counts when it exists."""
    if config_file is not None:
        path = Path(config_file)
        return read_config_file(path), str(path)
    default = Path(DEFAULT_CONFIG_FILE)
    if default.exists():
        return read_config_file(default), str(default)
    return {}, str(default)


def load_config(args: argparse.Namespace) -> DaemonConfig:
    """The effective configuration: daemon.json merged with the given flags."""
    file_settings, source = _file_settings(args.config_file)
    return merge_file_and_flags(file_settings, flags_to_settings(vars(args)), source=source)


def resolve_exec_root(exec_root: str | None, config_file: str | None) -> Path:
    """The exec-root ``down``/``status`` act on: the flag, else daemon.json's, else the default."""
    if exec_root is not None:
        return Path(_absolute(exec_root))
    file_settings, _ = _file_settings(config_file)
    value = file_settings.get("exec-root", DEFAULT_EXEC_ROOT)
    if not isinstance(value, str):
        raise InvalidArgument("invalid value for exec-root: expected a string")
    return Path(value)
