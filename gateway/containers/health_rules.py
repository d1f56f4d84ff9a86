"""Health-check rules, as pure functions: the settings, one probe's effect, the JSON.

dockerd's semantics: a success makes the container ``healthy`` and clears the
failing streak; a failure after the start period adds to the streak and makes
it ``unhealthy`` once the streak reaches ``Retries``; failures inside the start
period are logged but not counted. The last five probes are kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from services.common.records import dump_record, load_record

HEALTH_PREFIX = "health/"
"""etcd ``health/<container id>``: the gateway's health monitor is the only writer."""

STARTING, HEALTHY, UNHEALTHY = "starting", "healthy", "unhealthy"
NO_HEALTHCHECK = "NONE"
MAX_LOG_ENTRIES = 5
MAX_OUTPUT_BYTES = 4096
SECOND_NS = 1_000_000_000
DEFAULT_INTERVAL_NS = 30 * SECOND_NS
DEFAULT_TIMEOUT_NS = 30 * SECOND_NS
DEFAULT_START_INTERVAL_NS = 5 * SECOND_NS
DEFAULT_RETRIES = 3


def health_key(container_id: str) -> str:
    return HEALTH_PREFIX + container_id


@dataclass(frozen=True)
class HealthSettings:
    """A container's ``Config.Healthcheck`` with dockerd's defaults for zero values."""

    command: tuple[str, ...]
    interval: float
    timeout: float
    start_period: float
    start_interval: float
    retries: int

    @classmethod
    def from_config(cls, config: Any) -> HealthSettings | None:
        """None when the container has no health check (none given, or ``NONE``)."""
        check = config.get("Healthcheck") if isinstance(config, dict) else None
        test = list((check or {}).get("Test") or [])
        if not test or test[0] == NO_HEALTHCHECK:
            return None
        if test[0] == "CMD-SHELL":
            command: tuple[str, ...] = ("/bin/sh", "-c", " ".join(test[1:]))
        elif test[0] == "CMD":
            command = tuple(test[1:])
        else:  # "inherit" only means something while merging with the image
            return None
        if not command:
            return None

        def seconds(key: str, default: int) -> float:
            return int(check.get(key) or default) / SECOND_NS  # type: ignore[union-attr]

        return cls(
            command=command,
            interval=seconds("Interval", DEFAULT_INTERVAL_NS),
            timeout=seconds("Timeout", DEFAULT_TIMEOUT_NS),
            start_period=seconds("StartPeriod", 0),
            start_interval=seconds("StartInterval", DEFAULT_START_INTERVAL_NS),
            retries=int(check.get("Retries") or DEFAULT_RETRIES),  # type: ignore[union-attr]
        )


@dataclass(frozen=True)
class ProbeResult:
    start: str
    """RFC 3339 with nanoseconds."""
    end: str
    exit_code: int
    output: str

    def json(self) -> dict[str, Any]:
        return {"Start": self.start, "End": self.end, "ExitCode": self.exit_code,
                "Output": self.output}


@dataclass(frozen=True)
class HealthState:
    """``State.Health``, plus the run it belongs to (the container's StartedAt)."""

    status: str = STARTING
    failing_streak: int = 0
    log: tuple[ProbeResult, ...] = field(default_factory=tuple)
    started_at: str = ""

    def json(self) -> dict[str, Any]:
        return {"Status": self.status, "FailingStreak": self.failing_streak,
                "Log": [entry.json() for entry in self.log]}

    def encode(self) -> bytes:
        return dump_record({**self.json(), "StartedAt": self.started_at})

    @classmethod
    def decode(cls, value: bytes) -> HealthState:
        data = load_record(value, "health")
        return cls(
            status=str(data["Status"]), failing_streak=int(data["FailingStreak"]),
            log=tuple(ProbeResult(str(e["Start"]), str(e["End"]), int(e["ExitCode"]),
                                  str(e["Output"])) for e in data.get("Log") or ()),
            started_at=str(data.get("StartedAt", "")),
        )


def for_new_run(previous: HealthState | None, started_at: str) -> HealthState:
    """The state when a run begins: ``starting`` again; a run already under way keeps its own."""
    if previous is not None and previous.started_at == started_at:
        return previous
    log = previous.log if previous is not None else ()
    return HealthState(status=STARTING, failing_streak=0, log=log, started_at=started_at)


def after_probe(
    state: HealthState, result: ProbeResult, retries: int, in_start_period: bool
) -> HealthState:
    log = (*state.log, result)[-MAX_LOG_ENTRIES:]
    if result.exit_code == 0:
        return replace(state, status=HEALTHY, failing_streak=0, log=log)
    if in_start_period:
        return replace(state, log=log)
    streak = state.failing_streak + 1
    status = UNHEALTHY if streak >= retries else state.status
    return replace(state, status=status, failing_streak=streak, log=log)


def go_duration(seconds: float) -> str:
    """Go's Duration.String for the values users give (``1s``, ``1.5s``, ``2m0s``, ``500ms``)."""
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    minutes, rest = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    text = f"{rest:g}s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    return f"{minutes}m{text}" if minutes else text


def timed_out(start: str, end: str, timeout: float) -> ProbeResult:
    return ProbeResult(start, end, -1, f"Health check exceeded timeout ({go_duration(timeout)})")


def status_suffix(status: str) -> str:
    """What ``docker ps`` adds after ``Up 3 seconds``."""
    return " (health: starting)" if status == STARTING else f" ({status})"
