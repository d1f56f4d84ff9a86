"""Docker's restart policies: whether an exited container starts again, and when.

Pure decisions, so they are unit-tested without processes. The delays follow
dockerd's restartmanager: 100 ms doubling after each restart, reset once the
container stayed up for 10 s, and capped at one minute.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.common.errors import InvalidArgument

POLICIES = ("", "no", "always", "unless-stopped", "on-failure")
BASE_DELAY = 0.1
MAX_DELAY = 60.0
RESET_AFTER = 10.0


@dataclass(frozen=True)
class RestartPolicy:
    name: str = "no"
    maximum_retry_count: int = 0

    @classmethod
    def from_host_config(cls, policy: object) -> RestartPolicy:
        if not isinstance(policy, dict):
            return cls()
        name = str(policy.get("Name") or "no")
        if name not in POLICIES:
            raise InvalidArgument(f"invalid restart policy '{name}'")
        count = int(policy.get("MaximumRetryCount") or 0)
        return cls(name or "no", count)

    def should_restart(self, exit_code: int, restart_count: int, stopped_by_user: bool) -> bool:
        """Docker's rule (its restartmanager) after an exit no stop or kill asked for.

        The exit a stop (or a kill by SIGKILL or the stop signal) causes is
        never restarted; the caller knows it. ``stopped_by_user`` is set by
        any stop or kill, also one whose signal the process survived or died
        of unasked: only ``unless-stopped`` then stays down.
        """
        if self.name == "always":
            return True
        if self.name == "unless-stopped":
            return not stopped_by_user
        if self.name == "on-failure":
            if exit_code == 0:
                return False
            return self.maximum_retry_count == 0 or restart_count < self.maximum_retry_count
        return False

    def starts_with_daemon(self, stopped_by_user: bool) -> bool:
        """Whether the container is started again when Dockyard starts."""
        if self.name == "always":
            return True
        return self.name == "unless-stopped" and not stopped_by_user


def next_delay(previous_delay: float, seconds_up: float) -> float:
    """The wait before the next restart, given the last one and how long the run lasted."""
    if seconds_up >= RESET_AFTER or previous_delay <= 0:
        return BASE_DELAY
    return min(previous_delay * 2, MAX_DELAY)
