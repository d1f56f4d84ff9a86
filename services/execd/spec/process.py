"""The container's command, environment and working directory, as dockerd derives them.

dockerd merges the image's config into the container's at create time (so
``docker inspect`` shows the merged Cmd/Env), then builds the process's
environment at start from a few daemon defaults overridden by Config.Env.
:func:`merge_image_config` is idempotent: merging an already merged config
again changes nothing, so the gateway may merge at create and the spec builder
again at start.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.common.errors import InvalidArgument

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def str_list(value: Any) -> list[str] | None:
    """A Docker StrSlice: null → None, "a" → ["a"], ["a", "b"] → ["a", "b"]."""
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    if isinstance(value, Sequence):
        return [str(item) for item in value]
    raise InvalidArgument(f"expected a string or a list of strings, got {value!r}")


def _env_key(entry: str) -> str:
    return entry.partition("=")[0]


def merge_image_config(config: Mapping[str, Any], image: Mapping[str, Any]) -> dict[str, Any]:
    """Docker's ``merge(userConf, imageConf)``: the image's defaults under the container's."""
    merged = dict(config)
    if not merged.get("User"):
        merged["User"] = image.get("User") or ""

    ports = dict(image.get("ExposedPorts") or {})
    ports.update(merged.get("ExposedPorts") or {})
    if ports:
        merged["ExposedPorts"] = ports

    user_env = list(merged.get("Env") or [])
    if not user_env:
        merged["Env"] = list(image.get("Env") or [])
    else:
        keys = {_env_key(entry) for entry in user_env}
        merged["Env"] = user_env + [
            entry for entry in image.get("Env") or [] if _env_key(entry) not in keys
        ]

    labels = dict(image.get("Labels") or {})
    labels.update(merged.get("Labels") or {})
    if labels or "Labels" in merged:
        merged["Labels"] = labels

    entrypoint = str_list(merged.get("Entrypoint"))
    # The CLI sends [""] for --entrypoint "": an explicit reset, not "unset".
    if entrypoint == [""]:
        entrypoint = []
    cmd = str_list(merged.get("Cmd"))
    if not entrypoint:
        if not cmd:
            cmd = str_list(image.get("Cmd"))
        if entrypoint is None:
            entrypoint = str_list(image.get("Entrypoint"))
    merged["Entrypoint"] = entrypoint
    merged["Cmd"] = cmd

    if merged.get("Healthcheck") is None and image.get("Healthcheck") is not None:
        merged["Healthcheck"] = image["Healthcheck"]
    if not merged.get("WorkingDir"):
        merged["WorkingDir"] = image.get("WorkingDir") or ""
    volumes = dict(image.get("Volumes") or {})
    volumes.update(merged.get("Volumes") or {})
    if volumes:
        merged["Volumes"] = volumes
    if not merged.get("StopSignal") and image.get("StopSignal"):
        merged["StopSignal"] = image["StopSignal"]
    return merged


def command_args(config: Mapping[str, Any]) -> list[str]:
    """Entrypoint + Cmd of a merged config; Docker's error when there is neither."""
    args = (str_list(config.get("Entrypoint")) or []) + (str_list(config.get("Cmd")) or [])
    if not args:
        raise InvalidArgument("No command specified")
    return args


def replace_or_append_env(defaults: Sequence[str], overrides: Sequence[str]) -> list[str]:
    """Docker's ReplaceOrAppendEnvValues.

    An override replaces the default of the same name in place or is appended;
    a bare ``NAME`` (no ``=``) removes the default of that name. Overrides are
    not deduplicated among themselves, as in dockerd.
    """
    env = list(defaults)
    index = {_env_key(entry): i for i, entry in enumerate(env)}
    removed: set[int] = set()
    for value in overrides:
        if "=" not in value:
            if value in index:
                removed.add(index[value])
            continue
        key = _env_key(value)
        if key in index:
            env[index[key]] = value
            removed.discard(index[key])
        else:
            env.append(value)
    return [entry for i, entry in enumerate(env) if i not in removed]


def check_process_strings(args: Sequence[str], env: Sequence[str]) -> None:
    """What runc would refuse only after the container is half set up, refused up front."""
    for arg in args:
        if "\x00" in arg:
            raise InvalidArgument(f"invalid argument {arg!r}: contains a nul byte")
    for pair in env:
        name, sep, value = pair.partition("=")
        if not sep:
            raise InvalidArgument("invalid environment variable: missing '='")
        if not name:
            raise InvalidArgument("invalid environment variable: name cannot be empty")
        if "\x00" in name:
            raise InvalidArgument(
                f"invalid environment variable {name!r}: name contains nul byte (\\x00)")
        if "\x00" in value:
            raise InvalidArgument(
                f"invalid environment variable {name!r}: value contains nul byte (\\x00)")


def daemon_environment(
    config: Mapping[str, Any], hostname: str, tty: bool
) -> list[str]:
    """PATH, HOSTNAME and (with a TTY) TERM, overridden by the merged Config.Env."""
    defaults = [f"PATH={DEFAULT_PATH}", f"HOSTNAME={hostname}"]
    if tty:
        defaults.append("TERM=xterm")
    return replace_or_append_env(defaults, list(config.get("Env") or []))
