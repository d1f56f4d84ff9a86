"""The pure parts of execd's runtime: restart decisions, signals, log lines, sizes, ps."""

from __future__ import annotations

import pytest

from services.common.errors import InvalidArgument
from services.execd import restart
from services.execd.logfile import STDERR, STDOUT, LogEntry, LogQuery, parse_line, parse_time
from services.execd.logsize import parse_size
from services.execd.processes import parse_ps
from services.execd.signals import parse_signal
from services.execd.supervisor import start_error


@pytest.mark.parametrize(
    ("policy", "exit_code", "count", "by_user", "expected"),
    [
        (restart.RestartPolicy("no"), 1, 0, False, False),
        (restart.RestartPolicy("always"), 0, 5, False, True),
        (restart.RestartPolicy("always"), 0, 0, True, True),
        (restart.RestartPolicy("unless-stopped"), 3, 0, False, True),
        (restart.RestartPolicy("unless-stopped"), 3, 0, True, False),
        (restart.RestartPolicy("on-failure"), 0, 0, False, False),
        (restart.RestartPolicy("on-failure"), 1, 99, False, True),
        (restart.RestartPolicy("on-failure", 3), 1, 2, False, True),
        (restart.RestartPolicy("on-failure", 3), 1, 3, False, False),
        (restart.RestartPolicy("on-failure"), 129, 0, True, True),
    ],
)
def test_restart_decisions_follow_dockers_rules(
    policy: restart.RestartPolicy, exit_code: int, count: int, by_user: bool, expected: bool
) -> None:
    assert policy.should_restart(exit_code, count, by_user) is expected


def test_restart_policy_from_host_config() -> None:
    assert restart.RestartPolicy.from_host_config(None) == restart.RestartPolicy("no")
    parsed = restart.RestartPolicy.from_host_config({"Name": "on-failure", "MaximumRetryCount": 2})
    assert parsed == restart.RestartPolicy("on-failure", 2)
    with pytest.raises(InvalidArgument, match="invalid restart policy 'sometimes'"):
        restart.RestartPolicy.from_host_config({"Name": "sometimes"})


def test_daemon_start_restarts_always_and_unless_stopped_only() -> None:
    assert restart.RestartPolicy("always").starts_with_daemon(stopped_by_user=True)
    assert restart.RestartPolicy("unless-stopped").starts_with_daemon(stopped_by_user=False)
    assert not restart.RestartPolicy("unless-stopped").starts_with_daemon(stopped_by_user=True)
    assert not restart.RestartPolicy("on-failure").starts_with_daemon(stopped_by_user=False)


def test_backoff_doubles_then_resets_after_ten_seconds_up() -> None:
    assert restart.next_delay(0.0, 0.1) == restart.BASE_DELAY
    assert restart.next_delay(0.1, 0.1) == pytest.approx(0.2)
    assert restart.next_delay(0.4, 1.0) == pytest.approx(0.8)
    assert restart.next_delay(40.0, 1.0) == restart.MAX_DELAY
    assert restart.next_delay(3.2, 11.0) == restart.BASE_DELAY


@pytest.mark.parametrize(
    ("text", "number"),
    [("", 9), ("KILL", 9), ("SIGKILL", 9), ("sigterm", 15), ("15", 15), ("SIGRTMIN+3", 37)],
)
def test_signals_by_name_or_number(text: str, number: int) -> None:
    assert parse_signal(text) == number


@pytest.mark.parametrize("text", ["NOPE", "0", "99", "-1"])
def test_unknown_signals_are_refused(text: str) -> None:
    with pytest.raises(InvalidArgument, match="Invalid signal"):
        parse_signal(text)


def test_conmon_log_lines_become_docker_entries() -> None:
    full = parse_line(b"2026-11-27T21:10:35.561322045+00:00 stdout F hello")
    assert full == LogEntry(STDOUT, 1795813835_561322045, b"hello\n")
    partial = parse_line(b"2026-11-27T21:10:35.5+00:00 stderr P no newline")
    assert partial == LogEntry(STDERR, 1795813835_500000000, b"no newline")
    assert parse_line(b"2026-11-27T21:10:35.5+00:00 stdout F ") == LogEntry(
        STDOUT, 1795813835_500000000, b"\n")
    assert parse_line(b"garbage") is None


def test_log_times_with_offsets() -> None:
    assert parse_time("2026-11-27T22:10:35.000000001+01:00") == 1795813835_000000001
    assert parse_time("2026-11-27T21:10:35Z") == 1795813835_000000000


def test_log_query_selects_streams_and_times() -> None:
    entry = LogEntry(STDERR, 100, b"x")
    assert LogQuery().wants(entry)
    assert not LogQuery(stderr=False).wants(entry)
    assert not LogQuery(since_nanos=101).wants(entry)
    assert not LogQuery(until_nanos=99).wants(entry)


@pytest.mark.parametrize(
    ("text", "size"), [("", -1), ("2048", 2048), ("10k", 10240), ("1m", 1 << 20), ("2g", 2 << 30)]
)
def test_log_sizes(text: str, size: int) -> None:
    assert parse_size(text) == size


def test_bad_log_size_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="invalid size: 'ten'"):
        parse_size("ten")


def test_ps_rows_are_kept_to_the_containers_pids() -> None:
    output = (
        "UID PID PPID C STIME TTY TIME CMD\n"
        "root 1 0 0 10:00 ? 00:00:01 /sbin/init\n"
        "root 4242 4200 0 10:01 ? 00:00:00 sleep 100\n"
    )
    titles, rows = parse_ps(output, {4242})
    assert titles == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert rows == [["root", "4242", "4200", "0", "10:01", "?", "00:00:00", "sleep 100"]]


@pytest.mark.parametrize(
    ("message", "code", "kind"),
    [
        ('exec: "nosuch": executable file not found in $PATH', 127, "InvalidArgument"),
        ("open /x: no such file or directory", 127, "InvalidArgument"),
        ('exec: "/etc/passwd": permission denied', 126, "InvalidArgument"),
        ("cgroup is gone", 128, "Internal"),
    ],
)
def test_start_failures_get_dockers_exit_codes(message: str, code: int, kind: str) -> None:
    exit_code, error = start_error(message)
    assert exit_code == code
    assert type(error).__name__ == kind
    assert str(error).startswith("failed to create task for container: OCI runtime create failed")


def test_only_a_missing_command_gets_127() -> None:
    assert start_error('exec: "nosuch": executable file not found in $PATH', "nosuch")[0] == 127
    missing_bind = 'error mounting "/gone" to rootfs at "/data": no such file or directory'
    code, error = start_error(missing_bind, "true")
    assert (code, type(error).__name__) == (128, "Internal")
    code, error = start_error('mounting "/f" to rootfs at "/d": not a directory', "true")
    assert code == 128 and str(error).endswith("Check if the specified host path exists and is "
                                              "the expected type")
