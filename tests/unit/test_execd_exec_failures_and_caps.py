"""Pure decisions behind exec start failures and privileged capability sets."""

from __future__ import annotations

from pathlib import Path

from services.execd.execs import start_failure_code
from services.execd.spec.capabilities import container_capabilities, host_capabilities
from services.execd.spec.hostfacts import read_bounding_set


def test_missing_command_is_127_unrunnable_or_other_failures_126() -> None:
    missing = 'exec failed: unable to start container process: exec: "nosuch": executable ' \
              "file not found in $PATH"
    assert start_failure_code(missing, {"Cmd": ["nosuch"]}) == 127
    absent_path = 'exec: "/no/such": stat /no/such: no such file or directory'
    assert start_failure_code(absent_path, {"Cmd": ["/no/such"]}) == 127
    assert start_failure_code('exec: "/etc/passwd": permission denied',
                              {"Cmd": ["/etc/passwd"]}) == 126
    assert start_failure_code("unable to apply caps: operation not permitted",
                              {"Cmd": ["sh"]}) == 126
    # dockerd names 127 only when the message is about the command itself.
    assert start_failure_code("open /x/config: no such file or directory",
                              {"Cmd": ["sh"]}) == 126


def test_privileged_gets_only_capabilities_inside_the_bounding_set() -> None:
    without_sys_resource = ((1 << 41) - 1) & ~(1 << 24)
    caps = host_capabilities(40, without_sys_resource)
    assert "CAP_SYS_RESOURCE" not in caps and len(caps) == 40
    assert caps[0] == "CAP_CHOWN" and caps[-1] == "CAP_CHECKPOINT_RESTORE"
    assert host_capabilities(40) == host_capabilities(40, -1) and len(host_capabilities(40)) == 41
    assert container_capabilities([], [], True, 40, without_sys_resource) == caps
    everything = container_capabilities(["ALL"], ["CHOWN"], False, 40, without_sys_resource)
    assert "CAP_SYS_RESOURCE" not in everything and "CAP_CHOWN" not in everything


def test_bounding_set_is_read_from_proc_status(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text("Name:\tx\nCapInh:\t0000000000000000\nCapBnd:\t000001fffeffffff\n")
    assert read_bounding_set(status) == 0x1FFFEFFFFFF
    assert read_bounding_set(tmp_path / "missing") == -1
    status.write_text("Name:\tx\n")
    assert read_bounding_set(status) == -1
