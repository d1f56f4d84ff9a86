"""``HEALTHCHECK`` as ``docker import --change`` (and the Dockerfile) accept it.

``HEALTHCHECK NONE`` disables an inherited check; ``HEALTHCHECK [flags] CMD …``
sets one, exec form (``["curl", "-f", "x"]``) as ``CMD`` and shell form as
``CMD-SHELL``. Flags are Go durations (``--interval=5s``) and ``--retries``;
the result is container.HealthConfig with zero fields left out, in Go's order.
"""

from __future__ import annotations

import json
import re
from typing import Any

from services.common.errors import InvalidArgument

_FLAG = re.compile(r"^--([a-z-]+)(?:=(.*))?$")
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_NANOS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
          "m": 60_000_000_000, "h": 3_600_000_000_000}
_DURATIONS = {"interval": "Interval", "timeout": "Timeout", "start-period": "StartPeriod",
              "start-interval": "StartInterval"}
MIN_DURATION = 1_000_000  # 1ms: dockerd's container.MinimumDuration


def go_duration_ns(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds."""
    if text in ("0", ""):
        return 0
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    pos, total = 0, 0.0
    while pos < len(body):
        match = _DURATION_PART.match(body, pos)
        if match is None:
            raise InvalidArgument(f'time: invalid duration "{text}"')
        total += float(match.group(1)) * _NANOS[match.group(2)]
        pos = match.end()
    if not body:
        raise InvalidArgument(f'time: invalid duration "{text}"')
    return sign * int(total)


def parse_healthcheck(args: str) -> dict[str, Any]:
    """The config's ``Healthcheck`` for the instruction's arguments."""
    words = args.split()
    if not words:
        raise InvalidArgument("HEALTHCHECK requires at least one argument")
    values: dict[str, Any] = {}
    while words and words[0].startswith("--"):
        flag = words.pop(0)
        match = _FLAG.match(flag)
        name = match.group(1) if match else flag.lstrip("-")
        value = match.group(2) if match and match.group(2) is not None else ""
        if name in _DURATIONS:
            nanos = go_duration_ns(value)
            if nanos != 0 and nanos < MIN_DURATION:
                raise InvalidArgument(f'Interval "--{name}" cannot be less than 1ms')
            if nanos < 0:
                raise InvalidArgument(f'Interval "--{name}" cannot be negative')
            values[_DURATIONS[name]] = nanos
        elif name == "retries":
            if not re.fullmatch(r"-?\d+", value):
                raise InvalidArgument(f'strconv.ParseInt: parsing "{value}": invalid syntax')
            if int(value) < 0:
                raise InvalidArgument(f"--retries cannot be negative ({value})")
            values["Retries"] = int(value)
        else:
            raise InvalidArgument(f"Unknown flag: {name}")
    if not words:
        raise InvalidArgument("HEALTHCHECK requires at least one argument")
    kind = words[0].upper()
    rest = args.strip()[args.strip().index(words[0]) + len(words[0]):].strip()
    if kind == "NONE":
        if rest or values:
            raise InvalidArgument("HEALTHCHECK NONE takes no arguments")
        return {"Test": ["NONE"]}
    if kind != "CMD":
        raise InvalidArgument(f'Unknown type "{words[0]}" in HEALTHCHECK (try CMD)')
    test = _exec_form(rest)
    check: dict[str, Any] = {"Test": ["CMD", *test] if test is not None else ["CMD-SHELL", rest]}
    for key in ("Interval", "Timeout", "StartPeriod", "StartInterval", "Retries"):
        if values.get(key):
            check[key] = values[key]
    return check


def _exec_form(text: str) -> list[str] | None:
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None
