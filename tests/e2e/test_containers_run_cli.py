"""``docker run`` and its flags through the stock docker CLI, as dockerd behaves.

Every expectation is what a user sees from dockerd: bytes on stdout and
stderr, the CLI's exit code, ``docker inspect`` fields, and what the process
finds inside its container (/proc/self/status, mounts, namespaces).
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.cli_containers import (
    Names,
    all_container_ids,
    docker_bytes,
    gone,
    inspect,
    ok,
    poll,
    running,
    state,
)
from tests.support.cluster import Cluster
from tests.support.pty_cli import CTRL_P_CTRL_Q, PtyCommand

pytestmark = pytest.mark.root

DEFAULT_CAPS = 0x00000000A80425FB
"""CapEff of Docker's 14 default capabilities."""


def run(cluster: Cluster, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return cluster.docker("run", *args, input=input)


def status_field(output: str, field: str) -> int:
    """A hex capability mask (CapEff, CapBnd …) from /proc/self/status text."""
    line = next(line for line in output.splitlines() if line.startswith(field + ":"))
    return int(line.split()[1], 16)


# ---- output, exit codes, -d, --rm, --name --------------------------------------------------


def test_run_shows_stdout_and_stderr_apart_and_exits_with_the_code(
    cluster: Cluster, busybox: str
) -> None:
    before = all_container_ids(cluster)
    result = run(cluster, "--rm", busybox, "sh", "-c", "echo out; echo err >&2; exit 3")
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")
    assert all_container_ids(cluster) == before  # --rm removed it


@pytest.mark.parametrize("pid_mode", [(), ("--pid", "host")], ids=["own-pid-ns", "pid-host"])
def test_run_rm_leaves_nothing_once_the_cli_returns(
    cluster: Cluster, busybox: str, tmp_path: Path, pid_mode: tuple[str, ...]
) -> None:
    # With the host's PID namespace a background child outlives the main
    # process: it must be killed with the container, not keep its cgroup.
    cidfile = tmp_path / "cid"
    result = run(cluster, "--rm", "--cidfile", str(cidfile), *pid_mode, busybox,
                 "sh", "-c", "sleep 30 & exit 0")
    assert result.returncode == 0, result.stderr
    container_id = cidfile.read_text().strip()
    runc = subprocess.run(["runc", "--root", str(cluster.exec_root / "runc"), "state",
                           container_id], capture_output=True, text=True, check=False)
    assert runc.returncode != 0, f"runc still knows it: {runc.stdout}"
    assert not (cluster.exec_root / "execd" / "bundles" / container_id).exists()
    assert not (cluster.exec_root / "netns" / container_id).exists()
    parent = str(cluster.daemon_json["cgroup-parent"])
    root = Path("/sys/fs/cgroup")
    left = [str(h) for h in [root, *(p for p in root.iterdir() if p.is_dir())]
            if (h / parent / container_id).exists()]
    assert left == []


def test_named_run_is_kept_exited_with_its_code(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("named")
    assert run(cluster, "--name", name, busybox, "true").returncode == 0
    body = inspect(cluster, name)
    assert body["Name"] == f"/{name}"
    assert body["State"]["Status"] == "exited" and body["State"]["ExitCode"] == 0
    again = run(cluster, "--name", name, busybox, "true")
    assert again.returncode == 125
    assert f'The container name "/{name}" is already in use' in again.stderr


def test_detached_run_prints_the_id_and_keeps_running(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("detached")
    out = ok(run(cluster, "-d", "--name", name, busybox, "sleep", "30"))
    container_id = out.strip()
    assert len(container_id) == 64 and out == container_id + "\n"
    body = inspect(cluster, name)
    assert body["Id"] == container_id and body["State"]["Running"] is True
    assert body["State"]["Pid"] > 0 and Path(f"/proc/{body['State']['Pid']}").exists()
    assert ok(cluster.docker("ps", "-q", "--no-trunc", "--filter", f"name={name}")).split() == [
        container_id]


def test_detached_rm_removes_the_container_once_it_exits(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("rmd")
    ok(run(cluster, "-d", "--rm", "--name", name, busybox, "sh", "-c", "sleep 0.3"))
    assert running(cluster, name)
    poll(lambda: gone(cluster, name), what="--rm to remove the container")


def test_interactive_run_reads_piped_stdin_to_its_end(cluster: Cluster, busybox: str) -> None:
    result = run(cluster, "-i", "--rm", busybox, "sh", "-c", "cat; echo done",
                 input="line one\nline two\n")
    assert (result.returncode, result.stdout) == (0, "line one\nline two\ndone\n")


def test_without_i_the_container_gets_no_stdin(cluster: Cluster, busybox: str) -> None:
    result = run(cluster, "--rm", busybox, "sh", "-c", "cat; echo end", input="ignored\n")
    assert (result.returncode, result.stdout) == (0, "end\n")


def test_tty_run_under_a_terminal(cluster: Cluster, busybox: str) -> None:
    with PtyCommand(cluster, "run", "-it", "--rm", busybox, "sh") as cli:
        cli.expect(b"# ")
        cli.send(b"tty; echo $((6*7)); stty size; exit 3\r")
        assert cli.wait() == 3
    # A terminal's line endings, the container's own pty, and the CLI's size.
    assert b"\r\n42\r\n" in cli.output
    assert b"/dev/pts/0\r\n" in cli.output
    assert b"24 80\r\n" in cli.output


def test_t_without_i_turns_newlines_into_crlf(cluster: Cluster, busybox: str) -> None:
    result = docker_bytes(cluster, "run", "-t", "--rm", busybox, "sh", "-c", "printf 'a\\nb\\n'")
    assert (result.returncode, result.stdout) == (0, b"a\r\nb\r\n")


def test_detach_keys_leave_it_running_and_attach_returns(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("detach")
    with PtyCommand(cluster, "run", "-it", "--name", name, busybox, "sh") as cli:
        cli.expect(b"# ")
        cli.send(b"echo first-$((1+1))\r")
        cli.expect(b"first-2\r\n")
        cli.send(CTRL_P_CTRL_Q)
        assert cli.wait() == 0  # `docker run` detaches quietly
    assert running(cluster, name)
    with PtyCommand(cluster, "attach", name) as again:
        time.sleep(0.3)  # the CLI attaches, then puts the terminal in raw mode
        again.send(b"echo second-$((2+2))\r")
        again.expect(b"second-4\r\n")
        again.send(CTRL_P_CTRL_Q)
        assert again.wait() == 1  # `docker attach` reports the detach
        assert b"read escape sequence" in again.output
    assert running(cluster, name)
    with PtyCommand(cluster, "attach", "--detach-keys", "ctrl-x,x", name) as last:
        time.sleep(0.3)
        last.send(b"exit 6\r")
        assert last.wait() == 6  # the container's exit code
    assert state(cluster, name)["ExitCode"] == 6


# ---- process settings ----------------------------------------------------------------------


def test_env_env_file_workdir_hostname_and_entrypoint(
    cluster: Cluster, busybox: str, tmp_path: Path
) -> None:
    env_file = tmp_path / "env"
    env_file.write_text("# a comment\nFROM_FILE=file value\nINHERITED\n\nEQUALS=a=b\n")
    os.environ["INHERITED"] = "from the CLI's environment"
    try:
        result = run(cluster, "--rm", "-e", "GREETING=hi there", "--env-file", str(env_file),
                     "-w", "/made/by/docker", "--hostname", "box.example", busybox,
                     "sh", "-c", 'echo "$GREETING|$FROM_FILE|$INHERITED|$EQUALS"; pwd; hostname')
    finally:
        del os.environ["INHERITED"]
    assert ok(result) == (
        "hi there|file value|from the CLI's environment|a=b\n/made/by/docker\nbox.example\n")
    echoed = ok(run(cluster, "--rm", "--entrypoint", "echo", busybox, "one", "two"))
    assert echoed == "one two\n"


@pytest.mark.parametrize(("user", "expected"), [
    ("1000", "uid=1000 gid=0(root) groups=0(root)|/"),
    ("nobody", "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)|/home"),
    ("1000:1000", "uid=1000 gid=1000 groups=1000|/"),
    ("nobody:root", "uid=65534(nobody) gid=0(root) groups=0(root)|/home"),
])
def test_user_by_uid_name_and_uid_gid(
    cluster: Cluster, busybox: str, user: str, expected: str
) -> None:
    out = ok(run(cluster, "--rm", "-u", user, busybox, "sh", "-c", 'echo "$(id)|$HOME"'))
    assert out == expected + "\n"


def test_unknown_user_fails_the_start_with_dockers_words(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    name = names.new("nouser")
    result = run(cluster, "--name", name, "-u", "nosuchuser", busybox, "true")
    assert result.returncode == 125
    assert ("Error response from daemon: unable to find user nosuchuser: no matching entries "
            "in passwd file") in result.stderr


# ---- volumes, binds, tmpfs, read-only ------------------------------------------------------


def test_named_volume_outlives_its_container(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    volume = names.volume()
    ok(run(cluster, "--rm", "-v", f"{volume}:/data", busybox, "sh", "-c", "echo kept > /data/f"))
    assert ok(run(cluster, "--rm", "--mount", f"type=volume,src={volume},dst=/v", busybox,
                  "cat", "/v/f")) == "kept\n"
    name = names.new("vol")
    ok(run(cluster, "--name", name, "-v", f"{volume}:/data:ro", busybox, "true"))
    mount = inspect(cluster, name)["Mounts"][0]
    assert (mount["Type"], mount["Name"], mount["Destination"], mount["RW"]) == (
        "volume", volume, "/data", False)


def test_bind_read_only_and_read_write(cluster: Cluster, busybox: str, tmp_path: Path) -> None:
    (tmp_path / "f").write_text("from the host\n")
    ro = run(cluster, "--rm", "-v", f"{tmp_path}:/b:ro", busybox,
             "sh", "-c", "cat /b/f; touch /b/new")
    assert ro.returncode == 1 and ro.stdout == "from the host\n"
    assert "Read-only file system" in ro.stderr
    ok(run(cluster, "--rm", "--mount", f"type=bind,src={tmp_path},dst=/b", busybox,
           "sh", "-c", "echo back > /b/new"))
    assert (tmp_path / "new").read_text() == "back\n"
    mounted = ok(run(cluster, "--rm", "--mount", f"type=bind,src={tmp_path},dst=/b,readonly",
                     busybox, "grep", " /b ", "/proc/self/mounts"))
    assert mounted.split()[3].split(",")[0] == "ro"


def test_bind_propagation_rslave_sees_later_host_mounts(
    cluster: Cluster, busybox: str, names: Names, tmp_path: Path
) -> None:
    # A shared mount of our own (the host's / may be private), then a mount
    # made under it after the container started must show inside.
    source = tmp_path / "shared"
    source.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "dy-e2e-shared", str(source)], check=True)
    try:
        subprocess.run(["mount", "--make-shared", str(source)], check=True)
        name = names.new("prop")
        ok(run(cluster, "-d", "--name", name, "-v", f"{source}:/p:rslave", busybox,
               "sleep", "30"))
        (source / "later").mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "dy-e2e-later", str(source / "later")],
                       check=True)
        (source / "later" / "f").write_text("propagated\n")
        assert ok(cluster.docker("exec", name, "cat", "/p/later/f")) == "propagated\n"
        assert inspect(cluster, name)["Mounts"][0]["Propagation"] == "rslave"
        private = run(cluster, "--rm", "-v", f"{tmp_path}:/p:rshared", busybox, "true")
        assert private.returncode == 125
        assert f"path {tmp_path} is mounted on / but it is not a shared mount" in private.stderr
    finally:
        cluster.docker("rm", "-f", *names.containers)
        subprocess.run(["umount", "-R", "-l", str(source)], check=False)


def test_tmpfs_mounts_and_read_only_rootfs(cluster: Cluster, busybox: str) -> None:
    script = ("touch /x 2>&1; echo rc=$?; touch /run/ok && echo run-writable; "
              "grep -E ' (/run|/t|/dev/shm) ' /proc/self/mounts")
    out = ok(run(cluster, "--rm", "--read-only", "--tmpfs", "/run:size=2m",
                 "--mount", "type=tmpfs,dst=/t,tmpfs-size=1048576", "--shm-size", "8m",
                 busybox, "sh", "-c", script))
    lines = out.splitlines()
    assert lines[0] == "touch: /x: Read-only file system" and lines[1] == "rc=1"
    assert lines[2] == "run-writable"
    mounts = {line.split()[1]: line.split()[3].split(",") for line in lines[3:]}
    assert "size=2048k" in mounts["/run"] and "rw" in mounts["/run"]
    assert "size=1024k" in mounts["/t"]
    assert "size=8192k" in mounts["/dev/shm"]


# ---- limits and security -------------------------------------------------------------------


def test_ulimit(cluster: Cluster, busybox: str) -> None:
    out = ok(run(cluster, "--rm", "--ulimit", "nofile=123:456", busybox,
                 "sh", "-c", "ulimit -n; ulimit -Hn"))
    assert out == "123\n456\n"


def test_capabilities_default_add_and_drop(cluster: Cluster, busybox: str) -> None:
    default = ok(run(cluster, "--rm", busybox, "cat", "/proc/self/status"))
    assert status_field(default, "CapEff") == DEFAULT_CAPS
    assert status_field(default, "CapBnd") == DEFAULT_CAPS
    tweaked = run(cluster, "--rm", "--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN", busybox,
                  "sh", "-c", "grep CapEff /proc/self/status; chown 1 /tmp")
    assert tweaked.returncode == 1 and "Operation not permitted" in tweaked.stderr
    assert status_field(tweaked.stdout, "CapEff") == DEFAULT_CAPS & ~(1 << 0) | (1 << 12)
    bad = run(cluster, "--rm", "--cap-add", "NOPE", busybox, "true")
    assert bad.returncode == 125 and 'unknown capability: "CAP_NOPE"' in bad.stderr


def test_privileged_gets_every_capability_dockyard_holds_and_the_devices(
    cluster: Cluster, busybox: str
) -> None:
    own = status_field(Path("/proc/self/status").read_text(), "CapBnd")
    script = ("grep CapEff /proc/self/status; mkdir /m; mount -t tmpfs none /m && echo mounted; "
              "ls /dev")
    out = ok(run(cluster, "--rm", "--privileged", busybox, "sh", "-c", script))
    assert status_field(out, "CapEff") == own
    assert "mounted" in out.splitlines()
    host_devices = {p.name for p in Path("/dev").iterdir() if p.is_char_device()}
    assert "kmsg" in host_devices and "kmsg" in out.split()
    plain = run(cluster, "--rm", busybox, "sh", "-c", "mkdir /m; mount -t tmpfs none /m; ls /dev")
    assert plain.returncode == 0 and "kmsg" not in plain.stdout.split()
    assert plain.stderr == "mount: permission denied (are you root?)\n"


def test_security_opt_no_new_privileges_and_seccomp(cluster: Cluster, busybox: str) -> None:
    def status(*flags: str) -> str:
        return ok(run(cluster, "--rm", *flags, busybox, "grep", "-E",
                      "^(NoNewPrivs|Seccomp):", "/proc/self/status"))

    assert status() == "NoNewPrivs:\t0\nSeccomp:\t2\n"
    assert status("--security-opt", "no-new-privileges") == "NoNewPrivs:\t1\nSeccomp:\t2\n"
    assert status("--security-opt", "seccomp=unconfined") == "NoNewPrivs:\t0\nSeccomp:\t0\n"
    bad = run(cluster, "--rm", "--security-opt", "seccomp=/no/such/profile.json", busybox, "true")
    assert bad.returncode == 125
    assert "opening seccomp profile (/no/such/profile.json) failed" in bad.stderr


def test_device_and_sysctl(cluster: Cluster, busybox: str) -> None:
    out = ok(run(cluster, "--rm", "--device", "/dev/null:/dev/xnull",
                 "--sysctl", "net.ipv4.ip_forward=1", busybox, "sh", "-c",
                 "stat -c '%F %t,%T' /dev/xnull; echo x > /dev/xnull && echo wrote; "
                 "cat /proc/sys/net/ipv4/ip_forward"))
    assert out == "character special file 1,3\nwrote\n1\n"
    refused = run(cluster, "--rm", "--network", "host", "--sysctl", "net.ipv4.ip_forward=1",
                  busybox, "true")
    assert refused.returncode == 125
    assert 'sysctl "net.ipv4.ip_forward" not allowed in host network namespace' in (
        refused.stderr)


def test_init_runs_as_pid_1_and_forwards_sigterm(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    out = ok(run(cluster, "--rm", "--init", busybox, "ps", "-o", "pid,args"))
    assert out.splitlines()[1].split() == ["1", "/sbin/docker-init", "--", "ps", "-o", "pid,args"]
    name = names.new("init")
    ok(run(cluster, "-d", "--init", "--name", name, busybox, "sleep", "30"))
    started = time.monotonic()
    ok(cluster.docker("stop", name))
    # sleep is not PID 1 here, so SIGTERM kills it at once: 128 + 15.
    assert time.monotonic() - started < 5
    assert state(cluster, name)["ExitCode"] == 143


def test_stop_signal_and_stop_timeout(cluster: Cluster, busybox: str, names: Names) -> None:
    usr1 = names.new("usr1")
    ok(run(cluster, "-d", "--name", usr1, "--stop-signal", "SIGUSR1", busybox, "sh", "-c",
           "trap 'echo got-usr1; exit 7' USR1; echo ready; while :; do sleep 0.05; done"))
    poll(lambda: "ready" in ok(cluster.docker("logs", usr1)), what="the trap to be set")
    ok(cluster.docker("stop", usr1))
    assert inspect(cluster, usr1)["Config"]["StopSignal"] == "SIGUSR1"
    assert state(cluster, usr1)["ExitCode"] == 7
    assert ok(cluster.docker("logs", usr1)) == "ready\ngot-usr1\n"

    patient = names.new("timeout")
    ok(run(cluster, "-d", "--name", patient, "--stop-timeout", "1", busybox, "sleep", "30"))
    started = time.monotonic()
    ok(cluster.docker("stop", patient))  # PID 1 ignores SIGTERM: SIGKILL after 1 s
    assert 0.9 < time.monotonic() - started < 5
    assert inspect(cluster, patient)["Config"]["StopTimeout"] == 1
    assert state(cluster, patient)["ExitCode"] == 137


def test_restart_on_failure_always_and_stop_for_good(
    cluster: Cluster, busybox: str, names: Names
) -> None:
    failing = names.new("onfail")
    ok(run(cluster, "-d", "--name", failing, "--restart", "on-failure:2", busybox,
           "sh", "-c", "exit 5"))
    poll(lambda: (lambda b: b["RestartCount"] == 2 and b["State"]["Status"] == "exited")(
        inspect(cluster, failing)), what="two restarts then exited")
    assert state(cluster, failing)["ExitCode"] == 5
    always = names.new("always")
    ok(run(cluster, "-d", "--name", always, "--restart", "always", busybox,
           "sh", "-c", "sleep 0.1"))
    poll(lambda: inspect(cluster, always)["RestartCount"] >= 2, what="always to restart")
    ok(cluster.docker("stop", always))
    after = inspect(cluster, always)
    assert after["State"]["Status"] == "exited"
    time.sleep(0.5)
    assert inspect(cluster, always)["RestartCount"] == after["RestartCount"]
    assert state(cluster, always)["Status"] == "exited"


# ---- namespaces and networks -----------------------------------------------------------------


def test_pid_ipc_and_uts_host(cluster: Cluster, busybox: str) -> None:
    own_ipc = str(Path("/proc/self/ns/ipc").readlink())
    out = ok(run(cluster, "--rm", "--pid", "host", "--ipc", "host", "--uts", "host", busybox,
                 "sh", "-c", "cat /proc/1/comm; readlink /proc/self/ns/ipc; hostname"))
    assert out.splitlines() == [
        Path("/proc/1/comm").read_text().strip(), own_ipc, os.uname().nodename]
    isolated = ok(run(cluster, "--rm", busybox, "sh", "-c",
                      "cat /proc/1/comm; readlink /proc/self/ns/ipc"))
    assert isolated.splitlines()[0] == "sh" and isolated.splitlines()[1] != own_ipc


def test_pid_and_ipc_of_another_container(cluster: Cluster, busybox: str, names: Names) -> None:
    base = names.new("base")
    ok(run(cluster, "-d", "--name", base, busybox, "sleep", "30"))
    base_ipc = ok(cluster.docker("exec", base, "readlink", "/proc/self/ns/ipc"))
    out = ok(run(cluster, "--rm", "--pid", f"container:{base}", "--ipc", f"container:{base}",
                 busybox, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '; echo; "
                 "readlink /proc/self/ns/ipc"))
    assert out.splitlines() == ["sleep 30 ", base_ipc.strip()]
    stopped = names.new("stopped")
    ok(run(cluster, "--name", stopped, busybox, "true"))
    refused = run(cluster, "--rm", "--pid", f"container:{stopped}", busybox, "true")
    assert refused.returncode == 125
    assert f"Error response from daemon: container {stopped} is not running" in refused.stderr


def test_network_none_host_and_bridge(cluster: Cluster, busybox: str, names: Names) -> None:
    none = ok(run(cluster, "--rm", "--network", "none", busybox, "ls", "/sys/class/net"))
    assert none.split() == ["lo"]
    host = ok(run(cluster, "--rm", "--network", "host", busybox, "hostname"))
    assert host.strip() == os.uname().nodename
    name = names.new("bridge")
    ok(run(cluster, "-d", "--name", name, busybox, "sleep", "30"))
    address = inspect(cluster, name)["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    shown = ok(cluster.docker("exec", name, "ip", "-o", "-4", "addr", "show", "eth0"))
    assert f"inet {address}/" in shown


def test_publish_port_and_label(cluster: Cluster, busybox: str, names: Names) -> None:
    name = names.new("ports")
    ok(run(cluster, "-d", "--name", name, "-p", "127.0.0.1:18473:80", "-p", "9090/udp",
           "--label", "team=core", "--label", "flag", busybox, "sleep", "30"))
    lines = ok(cluster.docker("port", name)).splitlines()
    assert lines[0] == "80/tcp -> 127.0.0.1:18473"
    assert lines[1].startswith("9090/udp -> 0.0.0.0:")
    assert ok(cluster.docker("port", name, "80")) == "127.0.0.1:18473\n"
    missing = cluster.docker("port", name, "81")
    assert missing.returncode == 1
    assert missing.stderr.strip() == f"Error: No public port '81' published for {name}"
    assert inspect(cluster, name)["Config"]["Labels"] == {"team": "core", "flag": ""}
    assert ok(cluster.docker("ps", "--filter", "label=team=core", "--filter", "label=flag",
                             "--format", "{{.Names}}")).split() == [name]


# ---- exit codes of failed starts --------------------------------------------------------------


@pytest.mark.parametrize(("command", "code", "words"), [
    ("nosuchcommand", 127, 'exec: "nosuchcommand": executable file not found in $PATH'),
    ("/etc/passwd", 126, 'exec: "/etc/passwd": permission denied'),
])
def test_command_not_found_127_and_not_executable_126(
    cluster: Cluster, busybox: str, names: Names, command: str, code: int, words: str
) -> None:
    name = names.new("bad")
    result = run(cluster, "--name", name, busybox, command)
    assert result.returncode == code
    assert result.stderr.startswith("docker: Error response from daemon: failed to create task")
    assert words in result.stderr
    body = inspect(cluster, name)
    assert body["State"]["Status"] == "created" and body["State"]["ExitCode"] == code
    assert words in body["State"]["Error"]


def test_daemon_refusals_exit_125(cluster: Cluster, busybox: str) -> None:
    before = all_container_ids(cluster)
    offline = run(cluster, "--pull", "never", "dockyard-no-such-image:1")
    assert offline.returncode == 125
    assert "No such image: dockyard-no-such-image:1" in offline.stderr
    bad_restart = run(cluster, "--restart", "sometimes", busybox)
    assert bad_restart.returncode == 125
    assert "invalid restart policy" in bad_restart.stderr
    assert all_container_ids(cluster) == before
