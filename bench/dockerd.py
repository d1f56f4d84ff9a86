"""A real dockerd to compare with, on private roots and a bridge of its own.

``python -m bench.containers --start-dockerd`` runs one for the length of the
measurement: its own API socket, data-root, exec-root (and so its own
containerd), pidfile and an empty daemon.json, so nothing of a Docker installed
on the host is read or touched. Its containers get bridge networking like
Dockyard's default: a bridge ``dkrbench0`` made here with an address in a
private /24 no route on the host uses, handed to dockerd with ``-b``. dockerd
is told to leave the host alone (no iptables chains, no masquerade, no
ip_forward sysctl); a container then still gets a netns, a veth pair into the
bridge, an address from IPAM, hosts/resolv.conf, which is the work Dockyard's
default network does on the start path. Afterwards dockerd is stopped by its
pidfile, its roots are removed and the bridge is deleted.

The same by hand::

    ip link add dkrbench0 type bridge
    ip addr add 10.213.77.1/24 dev dkrbench0 && ip link set dkrbench0 up
    echo '{}' > /tmp/dkrbench/daemon.json
    dockerd -H unix:///tmp/dkrbench/docker.sock --data-root /tmp/dkrbench/data \\
        --exec-root /tmp/dkrbench/exec --pidfile /tmp/dkrbench/dockerd.pid \\
        --config-file /tmp/dkrbench/daemon.json -b dkrbench0 \\
        --iptables=false --ip-masq=false --ip-forward=false &
    …  # measure with --dockerd-socket /tmp/dkrbench/docker.sock
    kill $(cat /tmp/dkrbench/dockerd.pid)   # wait for it to exit
    ip link del dkrbench0; rm -rf /tmp/dkrbench
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from ipaddress import IPv4Network
from pathlib import Path

BRIDGE = "dkrbench0"
CANDIDATE_SUBNETS = ("10.213.77.0/24", "10.213.78.0/24", "10.213.79.0/24")
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0


class DockerdError(RuntimeError):
    pass


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False)


def free_subnet() -> IPv4Network:
    """The first candidate /24 that overlaps no route on the host."""
    routes = json.loads(_ip("-j", "-4", "route", "show", "table", "all").stdout or "[]")
    taken = []
    for route in routes:
        dst = str(route.get("dst", ""))
        with contextlib.suppress(ValueError):
            if dst and dst != "default":
                taken.append(IPv4Network(dst, strict=False))
    for text in CANDIDATE_SUBNETS:
        subnet = IPv4Network(text)
        if not any(subnet.overlaps(t) for t in taken):
            return subnet
    raise DockerdError(f"no free subnet among {', '.join(CANDIDATE_SUBNETS)}")


@contextlib.contextmanager
def bench_bridge() -> Iterator[str]:
    """The bridge ``dkrbench0`` with a gateway address, deleted afterwards."""
    if _ip("link", "show", BRIDGE).returncode == 0:
        raise DockerdError(f"{BRIDGE} exists already (another bench running?); not touching it")
    subnet = free_subnet()
    made = _ip("link", "add", BRIDGE, "type", "bridge")
    if made.returncode != 0:
        raise DockerdError(f"ip link add {BRIDGE}: {made.stderr.strip()}")
    try:
        for args in (("addr", "add", f"{subnet.network_address + 1}/{subnet.prefixlen}",
                      "dev", BRIDGE), ("link", "set", BRIDGE, "up")):
            done = _ip(*args)
            if done.returncode != 0:
                raise DockerdError(f"ip {' '.join(args)}: {done.stderr.strip()}")
        yield BRIDGE
    finally:
        _ip("link", "del", BRIDGE)


def _wait_for_socket(socket: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise DockerdError(f"dockerd exited ({process.returncode}) while starting")
        if socket.exists():
            done = subprocess.run(
                ["docker", "-H", f"unix://{socket}", "version", "--format", "{{.Server.Version}}"],
                capture_output=True, text=True, check=False, timeout=30,
            )
            if done.returncode == 0:
                return
        time.sleep(0.2)
    raise DockerdError(f"dockerd did not answer on {socket} within {START_TIMEOUT_S:.0f} s")


def _stop(pidfile: Path, process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the pid in dockerd's pidfile (ours), then wait for it to exit."""
    pid = process.pid
    with contextlib.suppress(OSError, ValueError):
        pid = int(pidfile.read_text().strip())
    if pid != process.pid:
        # Never signal a pid we did not start.
        pid = process.pid
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextlib.contextmanager
def private_dockerd(log: Path | None = None) -> Iterator[str]:
    """Start dockerd on private roots with bridge networking; yield its socket path."""
    if shutil.which("dockerd") is None:
        raise DockerdError("dockerd not found (Debian's docker.io provides it)")
    root = Path(tempfile.mkdtemp(prefix="dockyard-bench-dockerd-"))
    socket, pidfile = root / "docker.sock", root / "dockerd.pid"
    (root / "daemon.json").write_text("{}\n")
    try:
        with bench_bridge() as bridge, \
                open(log or os.devnull, "ab") as out:
            process = subprocess.Popen(
                ["dockerd", "-H", f"unix://{socket}",
                 "--data-root", str(root / "data"), "--exec-root", str(root / "exec"),
                 "--pidfile", str(pidfile), "--config-file", str(root / "daemon.json"),
                 "-b", bridge, "--iptables=false", "--ip-masq=false", "--ip-forward=false",
                 "--log-level", "warn"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
            )
            try:
                _wait_for_socket(socket, process)
                yield str(socket)
            finally:
                _stop(pidfile, process)
    finally:
        _unmount_under(root)
        shutil.rmtree(root, ignore_errors=True)


def _unmount_under(root: Path) -> None:
    """Mounts dockerd left under its roots (normally none after a clean stop)."""
    prefix = str(root) + "/"
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    for point in sorted((m for m in mounts if m.startswith(prefix)), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)
