"""When to restart a child that died, and when its deaths count as a crash loop.

Pure logic on monotonic timestamps, so the schedule is unit-tested without
processes or clocks.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

INITIAL_DELAY = 0.1
MAX_DELAY = 2.0
# A child that stayed up this long is considered healthy again: its next death
# restarts at the initial delay instead of continuing the doubling.
RESET_AFTER = 10.0
CRASH_LOOP_DEATHS = 5
CRASH_LOOP_WINDOW = 30.0


def backoff_delay(consecutive_failures: int) -> float:
    """The wait before restart number ``consecutive_failures`` (0-based): 0.1 s doubling to 2 s."""
    return min(INITIAL_DELAY * 2.0 ** max(consecutive_failures, 0), MAX_DELAY)


@dataclass
class RestartPolicy:
    """Tracks one child's deaths; :meth:`on_exit` says how long to wait before restarting."""

    reset_after: float = RESET_AFTER
    loop_deaths: int = CRASH_LOOP_DEATHS
    loop_window: float = CRASH_LOOP_WINDOW
    consecutive: int = 0
    deaths: deque[float] = field(default_factory=deque)

    def on_exit(self, now: float, uptime: float) -> float:
        """Record a death at ``now`` after ``uptime`` seconds up; return the restart delay."""
        if uptime >= self.reset_after:
            self.consecutive = 0
        delay = backoff_delay(self.consecutive)
        self.consecutive += 1
        self.deaths.append(now)
        self._forget_before(now - self.loop_window)
        return delay

    def crash_looping(self, now: float) -> bool:
        """True when the child died ``loop_deaths`` times within the last ``loop_window`` s."""
        self._forget_before(now - self.loop_window)
        return len(self.deaths) >= self.loop_deaths

    def _forget_before(self, cutoff: float) -> None:
        while self.deaths and self.deaths[0] < cutoff:
            self.deaths.popleft()
