"""Signal names and numbers as Docker accepts them (``KILL``, ``SIGKILL``, ``9``)."""

from __future__ import annotations

import signal

from services.common.errors import InvalidArgument

_BY_NAME: dict[str, int] = {
    s.name: int(s.value)
    for s in signal.Signals
    if s.name.startswith("SIG") and not s.name.startswith("SIG_")
}
# SIGRTMIN+n as Docker writes them.
for _n in range(0, int(signal.SIGRTMAX) - int(signal.SIGRTMIN) + 1):
    _BY_NAME.setdefault(f"SIGRTMIN+{_n}", int(signal.SIGRTMIN) + _n)


def parse_signal(value: str, default: int = int(signal.SIGKILL)) -> int:
    """The signal number of ``value``; InvalidArgument naming it when unknown."""
    text = value.strip()
    if not text:
        return default
    if text.isdigit():
        number = int(text)
        if 0 < number <= int(signal.SIGRTMAX):
            return number
        raise InvalidArgument(f"Invalid signal: {value}")
    name = text.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    if name in _BY_NAME:
        return _BY_NAME[name]
    raise InvalidArgument(f"Invalid signal: {value}")
