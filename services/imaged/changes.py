"""Dockerfile instructions applied to an image's container config (``import --change``).

dockerd accepts CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD,
STOPSIGNAL, USER, VOLUME and WORKDIR here (``validCommitCommands``); anything else is refused with
its words: ``run is not a valid change command``.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from typing import Any

from services.common.errors import InvalidArgument
from services.imaged.healthcheck import parse_healthcheck

SUPPORTED = ("cmd", "entrypoint", "env", "expose", "healthcheck", "label", "onbuild",
             "stopsignal", "user", "volume", "workdir")


def empty_container_config() -> dict[str, Any]:
    """container.Config{} as Go serialises it: every non-omitempty field present."""
    return {
        "Hostname": "", "Domainname": "", "User": "", "AttachStdin": False,
        "AttachStdout": False, "AttachStderr": False, "Tty": False, "OpenStdin": False,
        "StdinOnce": False, "Env": None, "Cmd": None, "Image": "", "Volumes": None,
        "WorkingDir": "", "Entrypoint": None, "OnBuild": None, "Labels": None,
    }


def _json_or_shell(args: str) -> list[str]:
    """Exec form ``["a", "b"]`` as is; shell form wrapped in ``/bin/sh -c``."""
    text = args.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return ["/bin/sh", "-c", text]


def _pairs(args: str, instruction: str) -> list[tuple[str, str]]:
    """``k=v k2="v 2"`` pairs; the legacy ``ENV k v w`` form gives one pair."""
    try:
        words = shlex.split(args, posix=True)
    except ValueError as exc:
        raise InvalidArgument(f"{instruction}: {exc}") from None
    if not words:
        raise InvalidArgument(f"{instruction} requires at least one argument")
    if "=" not in words[0]:
        key, _, value = args.strip().partition(" ")
        if instruction == "LABEL" or not value.strip():
            raise InvalidArgument(f"{instruction} must have two arguments")
        return [(key, value.strip())]
    pairs = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise InvalidArgument(f"{instruction} names can not be blank" if not key else
                                  f"Syntax error - can't find = in {word!r}. Must be of the form: "
                                  "name=value")
        pairs.append((key, value))
    return pairs


def _expose(args: str) -> dict[str, dict[str, Any]]:
    ports: dict[str, dict[str, Any]] = {}
    for spec in args.split():
        port, _, proto = spec.partition("/")
        proto = (proto or "tcp").lower()
        if proto not in ("tcp", "udp", "sctp"):
            raise InvalidArgument(f"invalid proto: {proto}")
        start, _, end = port.partition("-")
        if not start.isdigit() or (end and not end.isdigit()):
            raise InvalidArgument(f"invalid containerPort: {port}")
        for number in range(int(start), int(end or start) + 1):
            ports[f"{number}/{proto}"] = {}
    return ports


def _volumes(args: str) -> list[str]:
    text = args.strip()
    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return value
    return text.split()


def apply_change(config: dict[str, Any], line: str) -> None:
    """Apply one instruction line to ``config`` (a container config dict) in place."""
    match = re.match(r"^\s*(\S+)\s*(.*)$", line, re.DOTALL)
    if match is None:
        return
    command, args = match.group(1).lower(), match.group(2).strip()
    if command not in SUPPORTED:
        raise InvalidArgument(f"{command} is not a valid change command")
    if command == "cmd":
        config["Cmd"] = _json_or_shell(args)
    elif command == "entrypoint":
        config["Entrypoint"] = _json_or_shell(args) if args else None
    elif command == "env":
        env = list(config.get("Env") or [])
        for key, value in _pairs(args, "ENV"):
            env = [e for e in env if e.partition("=")[0] != key] + [f"{key}={value}"]
        config["Env"] = env
    elif command == "label":
        labels = dict(config.get("Labels") or {})
        labels.update(_pairs(args, "LABEL"))
        config["Labels"] = labels
    elif command == "expose":
        config["ExposedPorts"] = {**(config.get("ExposedPorts") or {}), **_expose(args)}
    elif command == "volume":
        volumes = dict(config.get("Volumes") or {})
        for path in _volumes(args):
            if not path.strip():
                raise InvalidArgument("VOLUME specified can not be an empty string")
            volumes[path] = {}
        config["Volumes"] = volumes
    elif command == "workdir":
        if not args:
            raise InvalidArgument("WORKDIR requires exactly one argument")
        config["WorkingDir"] = posixpath.normpath(
            posixpath.join(config.get("WorkingDir") or "/", args)
        )
    elif command == "user":
        config["User"] = args
    elif command == "stopsignal":
        config["StopSignal"] = args
    elif command == "healthcheck":
        config["Healthcheck"] = parse_healthcheck(args)
    elif command == "onbuild":
        trigger = args.split(None, 1)[0].upper() if args else ""
        if not trigger:
            raise InvalidArgument("ONBUILD requires at least one argument")
        if trigger == "ONBUILD":
            raise InvalidArgument("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
        if trigger in ("FROM", "MAINTAINER"):
            raise InvalidArgument(f"{trigger} isn't allowed as an ONBUILD trigger")
        config["OnBuild"] = [*(config.get("OnBuild") or []), args]


def apply_changes(changes: list[str]) -> dict[str, Any]:
    """The container config of an imported image: empty, then each change applied."""
    config = empty_container_config()
    for change in changes:
        for line in change.splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                apply_change(config, line)
    return config
