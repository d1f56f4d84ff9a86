"""Health-check rules: settings from Config.Healthcheck, one probe's effect, the JSON."""

from __future__ import annotations

from gateway.containers.health_rules import (
    HEALTHY,
    STARTING,
    UNHEALTHY,
    HealthSettings,
    HealthState,
    ProbeResult,
    after_probe,
    for_new_run,
    go_duration,
    status_suffix,
    timed_out,
)

S = 1_000_000_000


def _result(code: int) -> ProbeResult:
    return ProbeResult("2026-01-01T00:00:00Z", "2026-01-01T00:00:01Z", code, "out")


def test_settings_with_defaults_and_shell_form() -> None:
    settings = HealthSettings.from_config({"Healthcheck": {"Test": ["CMD-SHELL", "curl -f x"]}})
    assert settings == HealthSettings(("/bin/sh", "-c", "curl -f x"), 30.0, 30.0, 0.0, 5.0, 3)
    given = HealthSettings.from_config({"Healthcheck": {
        "Test": ["CMD", "true"], "Interval": S, "Timeout": 2 * S, "Retries": 1,
        "StartPeriod": 3 * S}})
    assert given == HealthSettings(("true",), 1.0, 2.0, 3.0, 5.0, 1)
    assert HealthSettings.from_config({"Healthcheck": {"Test": ["NONE"]}}) is None
    assert HealthSettings.from_config({}) is None


def test_streak_turns_unhealthy_at_retries_and_success_clears_it() -> None:
    state = for_new_run(None, "t1")
    assert state.status == STARTING
    state = after_probe(state, _result(1), retries=2, in_start_period=False)
    assert (state.status, state.failing_streak) == (STARTING, 1)
    state = after_probe(state, _result(1), retries=2, in_start_period=False)
    assert (state.status, state.failing_streak) == (UNHEALTHY, 2)
    state = after_probe(state, _result(0), retries=2, in_start_period=False)
    assert (state.status, state.failing_streak) == (HEALTHY, 0)


def test_start_period_failures_are_not_counted_and_log_keeps_five() -> None:
    state = for_new_run(None, "t1")
    for _ in range(7):
        state = after_probe(state, _result(1), retries=1, in_start_period=True)
    assert (state.status, state.failing_streak, len(state.log)) == (STARTING, 0, 5)


def test_new_run_restarts_but_same_run_resumes_and_round_trips() -> None:
    state = after_probe(for_new_run(None, "t1"), _result(0), 3, False)
    assert HealthState.decode(state.encode()) == state
    assert for_new_run(state, "t1") == state
    again = for_new_run(state, "t2")
    assert (again.status, again.failing_streak, again.log) == (STARTING, 0, state.log)


def test_texts_as_docker_shows_them() -> None:
    assert [go_duration(s) for s in (0.5, 1, 1.5, 90, 3600)] == [
        "500ms", "1s", "1.5s", "1m30s", "1h0m0s"]
    assert timed_out("a", "b", 2).json() == {
        "Start": "a", "End": "b", "ExitCode": -1,
        "Output": "Health check exceeded timeout (2s)"}
    assert status_suffix(STARTING) == " (health: starting)"
    assert status_suffix(HEALTHY) == " (healthy)"
