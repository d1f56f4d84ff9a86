"""Restart back-off and crash-loop detection of supervised children."""

from __future__ import annotations

import pytest

from launcher.backoff import RestartPolicy, backoff_delay


def test_schedule_doubles_from_a_tenth_and_caps_at_two_seconds() -> None:
    assert [backoff_delay(n) for n in range(7)] == pytest.approx(
        [0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0]
    )


def test_quick_deaths_back_off() -> None:
    policy = RestartPolicy()
    delays = [policy.on_exit(now=float(i), uptime=0.5) for i in range(6)]
    assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 2.0])


def test_back_off_resets_after_a_long_enough_run() -> None:
    policy = RestartPolicy()
    policy.on_exit(now=1.0, uptime=0.5)
    policy.on_exit(now=2.0, uptime=0.5)
    assert policy.on_exit(now=20.0, uptime=10.0) == pytest.approx(0.1)
    assert policy.on_exit(now=21.0, uptime=0.5) == pytest.approx(0.2)


def test_five_deaths_within_thirty_seconds_is_a_crash_loop() -> None:
    policy = RestartPolicy()
    for i in range(4):
        policy.on_exit(now=float(i * 5), uptime=1.0)
        assert not policy.crash_looping(now=float(i * 5))
    policy.on_exit(now=20.0, uptime=1.0)
    assert policy.crash_looping(now=20.0)


def test_deaths_spread_out_are_not_a_crash_loop() -> None:
    policy = RestartPolicy()
    for i in range(10):
        policy.on_exit(now=float(i * 8), uptime=8.0)
    assert not policy.crash_looping(now=72.0)


def test_a_crash_loop_ends_when_deaths_age_out() -> None:
    policy = RestartPolicy()
    for i in range(5):
        policy.on_exit(now=float(i), uptime=0.1)
    assert policy.crash_looping(now=4.0)
    assert not policy.crash_looping(now=40.0)
