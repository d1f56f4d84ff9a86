"""Container networking through the stock docker CLI: modes, DNS, connect/disconnect, ports.

Traffic stays on loopback and inside namespaces the cluster made: containers get
``--dns 127.0.0.1`` wherever a name could be forwarded upstream, and published
ports are reached through 127.0.0.1 or the cluster's own bridge. After each test
no namespace file or marked veth of a container that no longer exists is left.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import docker
import pytest

from tests.support.busybox import cached_busybox_rootfs_tar
from tests.support.cluster import Cluster
from tests.support.sandbox_leftovers import marked_links, wait_for_no_leftovers

pytestmark = pytest.mark.root

LOOPBACK_DNS = ("--dns", "127.0.0.1")
"""Names netd does not know go to 127.0.0.1:53 (loopback), never to the host's resolvers."""
HTTPD = "mkdir -p /www && echo hello-$(hostname) > /www/index.html && exec httpd -f -p 8080 -h /www"


@pytest.fixture(scope="module")
def busybox(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> str:
    if cluster.docker("image", "inspect", "busybox:latest").returncode != 0:
        tar = cached_busybox_rootfs_tar(tmp_path_factory.mktemp("busybox"))
        imported = cluster.docker("import", "--change", 'CMD ["sh"]', str(tar), "busybox:latest")
        assert imported.returncode == 0, imported.stderr
    return "busybox"


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    return result.stdout


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Net:
    """Containers and networks one test made: removed after it, then nothing may be left."""

    def __init__(self, cluster: Cluster, image: str) -> None:
        self.cluster = cluster
        self.image = image
        self.containers: list[str] = []
        self.networks: list[str] = []

    def docker(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self.cluster.docker(*args)

    def run(self, *args: str, name: str = "", command: str = "sleep 300") -> str:
        """``docker run -d`` busybox ``sh -c command``; the container's name."""
        name = name or unique("c")
        self.containers.append(name)
        ok(self.docker("run", "-d", "--name", name, *args, self.image, "sh", "-c", command))
        return name

    def create(self, *args: str, command: str = "sleep 300") -> str:
        name = unique("c")
        self.containers.append(name)
        ok(self.docker("create", "--name", name, *args, self.image, "sh", "-c", command))
        return name

    def network(self, *args: str) -> str:
        name = unique("n")
        self.networks.append(name)
        ok(self.docker("network", "create", *args, name))
        return name

    def sh(self, container: str, command: str) -> subprocess.CompletedProcess[str]:
        return self.docker("exec", container, "sh", "-c", command)

    def once(self, *args: str, command: str) -> subprocess.CompletedProcess[str]:
        """``docker run --rm`` busybox ``sh -c command``."""
        return self.docker("run", "--rm", *args, self.image, "sh", "-c", command)

    def inspect(self, container: str) -> dict[str, Any]:
        data: list[dict[str, Any]] = json.loads(ok(self.docker("inspect", container)))
        return data[0]

    def ip(self, container: str, network: str = "bridge") -> str:
        address: str = self.inspect(container)["NetworkSettings"]["Networks"][network][
            "IPAddress"]
        return address

    def cleanup(self) -> None:
        for name in self.containers:
            self.docker("rm", "-f", name)
        for name in self.networks:
            self.docker("network", "rm", name)


@pytest.fixture
def net(cluster: Cluster, busybox: str) -> Iterator[Net]:
    made = Net(cluster, busybox)
    yield made
    made.cleanup()
    assert wait_for_no_leftovers(cluster) == []


def links_of(net: Net, container: str) -> list[str]:
    """Interface names inside the container."""
    out = ok(net.sh(container, "ip -o link show"))
    return [line.split(":")[1].strip().partition("@")[0] for line in out.splitlines()]


def http_get(url: str, timeout: float = 10.0) -> str:
    """The body at ``url``, retried while the server starts; the last error when it never does."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                body: bytes = response.read()
                return body.decode()
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def refused(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return False
    except (urllib.error.URLError, ConnectionError):
        return True


def bridge_gateway(net: Net) -> str:
    data = json.loads(ok(net.docker("network", "inspect", "bridge")))[0]
    gateway: str = data["IPAM"]["Config"][0]["Gateway"]
    return gateway


# ---- network modes --------------------------------------------------------------------


def test_none_has_only_loopback(net: Net) -> None:
    out = ok(net.once("--network", "none", command="ip -o link show; cat /etc/hosts"))
    names = [line.split(":")[1].strip() for line in out.splitlines() if re.match(r"^\d+:", line)]
    assert names == ["lo"]


def test_host_network_sees_the_hosts_hostname_and_interfaces(net: Net, cluster: Cluster) -> None:
    out = ok(net.once("--network", "host", command="hostname; ip -o link show"))
    lines = out.splitlines()
    assert lines[0] == socket.gethostname()
    # The cluster's default bridge lives in the host namespace: a host-mode container sees it.
    assert any(f": {cluster.daemon_json['bridge']}:" in line for line in lines[1:])


def test_default_bridge_addresses_ping_and_no_names(net: Net) -> None:
    subnet = IPv4Network(json.loads(ok(net.docker("network", "inspect", "bridge")))[0]
                         ["IPAM"]["Config"][0]["Subnet"])
    first, second = net.run(*LOOPBACK_DNS), net.run(*LOOPBACK_DNS)
    first_ip, second_ip = IPv4Address(net.ip(first)), IPv4Address(net.ip(second))
    assert first_ip in subnet and second_ip in subnet and first_ip != second_ip
    assert str(first_ip) in ok(net.sh(first, "ip -4 -o addr show eth0"))
    assert "1 packets received" in ok(net.sh(first, f"ping -c1 -W2 {second_ip}"))
    # No embedded DNS on the default bridge: a peer's name does not resolve.
    failed = net.sh(first, f"ping -c1 -W1 {second}")
    assert failed.returncode != 0 and "bad address" in failed.stderr
    inspected = net.inspect(first)["NetworkSettings"]
    assert inspected["IPAddress"] == str(first_ip)
    assert inspected["Networks"]["bridge"]["DNSNames"] is None


def test_link_on_the_default_bridge(net: Net) -> None:
    target = net.run()
    out = ok(net.once("--link", f"{target}:db", *LOOPBACK_DNS,
                      command="cat /etc/hosts; ping -c1 -W2 db"))
    assert re.search(rf"^{re.escape(net.ip(target))}\tdb .*{target}$", out, re.M)
    assert "1 packets received" in out


def test_container_mode_shares_the_namespace(net: Net) -> None:
    owner = net.run()
    out = ok(net.once("--network", f"container:{owner}", command="ip -4 -o addr show eth0"))
    assert f"inet {net.ip(owner)}/" in out


# ---- user-defined networks ---------------------------------------------------------------


def test_user_network_dns_by_name_alias_and_short_id(net: Net) -> None:
    network = net.network()
    server = net.run("--network", network, "--network-alias", "web", *LOOPBACK_DNS)
    address = net.ip(server, network)
    short_id = net.inspect(server)["Id"][:12]
    for name in (server, "web", short_id, f"{server}.{network}"):
        out = ok(net.once("--network", network, *LOOPBACK_DNS,
                          command=f"ping -c1 -W2 {name}"))
        assert f"PING {name} ({address})" in out and "1 packets received" in out
    missing = net.once("--network", network, *LOOPBACK_DNS, command="ping -c1 -W1 nobody-here")
    assert missing.returncode != 0 and "bad address" in missing.stderr


def test_static_ip_on_a_network_with_a_subnet(net: Net) -> None:
    network = net.network("--subnet", "10.201.7.0/24")
    container = net.run("--network", network, "--ip", "10.201.7.77")
    assert "inet 10.201.7.77/24" in ok(net.sh(container, "ip -4 -o addr show eth0"))
    assert net.ip(container, network) == "10.201.7.77"


def test_internal_network_has_no_way_out(net: Net) -> None:
    network = net.network("--internal")
    container = net.run("--network", network)
    routes = ok(net.sh(container, "ip route"))
    assert "default" not in routes
    # Nothing outside the subnet is reachable: not even the cluster's own bridge.
    failed = net.sh(container, f"ping -c1 -W1 {bridge_gateway(net)}")
    assert failed.returncode != 0 and "unreachable" in failed.stderr.lower()


def test_two_user_networks_are_isolated(net: Net) -> None:
    left, right = net.network(), net.network()
    one = net.run("--network", left)
    two = net.run("--network", right)
    neighbour = net.run("--network", left)
    assert "1 packets received" in ok(net.sh(one, f"ping -c1 -W2 {net.ip(neighbour, left)}"))
    failed = net.sh(one, f"ping -c1 -W1 {net.ip(two, right)}")
    assert failed.returncode != 0 and "0 packets received" in failed.stdout


def test_removing_a_network_in_use_is_refused(net: Net, cluster: Cluster) -> None:
    network = net.network()
    net.run("--network", network)
    network_id = json.loads(ok(net.docker("network", "inspect", network)))[0]["Id"]
    removed = net.docker("network", "rm", network)
    assert removed.returncode == 1
    assert (f"Error response from daemon: error while removing network: network {network} "
            f"id {network_id} has active endpoints") in removed.stderr
    client = cluster.client()
    try:
        with pytest.raises(docker.errors.APIError) as refusal:
            client.api.remove_network(network)
        assert refusal.value.status_code == 403  # dockerd: ActiveEndpointsError is Forbidden
    finally:
        client.close()
    assert network in ok(net.docker("network", "ls", "--format", "{{.Name}}")).split()


# ---- connect / disconnect ------------------------------------------------------------------


def test_connect_and_disconnect_a_running_container(net: Net) -> None:
    network = net.network()
    peer = net.run("--network", network, *LOOPBACK_DNS)
    mover = net.run(*LOOPBACK_DNS)
    assert links_of(net, mover) == ["lo", "eth0"]
    before = net.once("--network", network, *LOOPBACK_DNS, command=f"ping -c1 -W1 {mover}")
    assert before.returncode != 0

    ok(net.docker("network", "connect", "--alias", "mover-alias", network, mover))
    assert links_of(net, mover) == ["lo", "eth0", "eth1"]
    address = net.ip(mover, network)
    assert f"inet {address}/" in ok(net.sh(mover, "ip -4 -o addr show eth1"))
    for name in (mover, "mover-alias"):
        assert f"({address})" in ok(net.sh(peer, f"ping -c1 -W2 {name}"))
    assert f"({net.ip(peer, network)})" in ok(net.sh(mover, f"ping -c1 -W2 {peer}"))
    members = json.loads(ok(net.docker("network", "inspect", network)))[0]["Containers"]
    assert {m["Name"] for m in members.values()} == {peer, mover}
    again = net.docker("network", "connect", network, mover)
    assert again.returncode == 1
    assert (f"Error response from daemon: endpoint with name {mover} already exists in network "
            f"{network}") in again.stderr

    ok(net.docker("network", "disconnect", network, mover))
    assert links_of(net, mover) == ["lo", "eth0"]
    after = net.sh(peer, f"ping -c1 -W1 {mover}")
    assert after.returncode != 0 and "bad address" in after.stderr
    assert list(net.inspect(mover)["NetworkSettings"]["Networks"]) == ["bridge"]
    members = json.loads(ok(net.docker("network", "inspect", network)))[0]["Containers"]
    assert {m["Name"] for m in members.values()} == {peer}
    not_there = net.docker("network", "disconnect", network, mover)
    assert not_there.returncode == 1
    assert "is not connected to network" in not_there.stderr


def test_connect_of_a_stopped_container_takes_effect_at_start(net: Net) -> None:
    network = net.network("--subnet", "10.201.9.0/24")
    peer = net.run("--network", network, *LOOPBACK_DNS)
    later = net.create(*LOOPBACK_DNS)
    ok(net.docker("network", "connect", "--ip", "10.201.9.40", "--alias", "late", network,
                  later))
    assert sorted(net.inspect(later)["NetworkSettings"]["Networks"]) == sorted(
        ["bridge", network])
    ok(net.docker("network", "disconnect", "bridge", later))
    ok(net.docker("start", later))
    assert links_of(net, later) == ["lo", "eth0"]
    assert "inet 10.201.9.40/24" in ok(net.sh(later, "ip -4 -o addr show eth0"))
    assert "(10.201.9.40)" in ok(net.sh(peer, "ping -c1 -W2 late"))
    assert list(net.inspect(later)["NetworkSettings"]["Networks"]) == [network]


def test_connect_refusals_use_dockers_words(net: Net) -> None:
    network = net.network()
    on_host = net.run("--network", "host")
    isolated = net.run("--network", "none")
    plain = net.run()
    cases = [
        (on_host, network, "container sharing network namespace with another container or "
                           "host cannot be connected to any other network"),
        (isolated, network, "container cannot be connected to multiple networks with one of "
                            "the networks in private (none) mode"),
        (plain, "host", "container cannot be disconnected from host network or connected to "
                        "host network"),
        (plain, "no-such-network", "network no-such-network not found"),
        ("no-such-container", network, "No such container: no-such-container"),
    ]
    for container, target, message in cases:
        result = net.docker("network", "connect", target, container)
        assert result.returncode == 1
        assert f"Error response from daemon: {message}" in result.stderr


def test_rename_of_a_running_container_moves_its_dns_name(net: Net) -> None:
    network = net.network()
    peer = net.run("--network", network, *LOOPBACK_DNS)
    old = net.run("--network", network, *LOOPBACK_DNS)
    new = unique("renamed")
    ok(net.docker("rename", old, new))
    net.containers.append(new)
    address = net.ip(new, network)
    assert f"({address})" in ok(net.sh(peer, f"ping -c1 -W2 {new}"))
    gone = net.sh(peer, f"ping -c1 -W1 {old}")
    assert gone.returncode != 0 and "bad address" in gone.stderr
    assert net.inspect(new)["NetworkSettings"]["Networks"][network]["DNSNames"][0] == new
    members = json.loads(ok(net.docker("network", "inspect", network)))[0]["Containers"]
    assert {m["Name"] for m in members.values()} == {peer, new}


# ---- published ports -------------------------------------------------------------------------


def test_publish_on_loopback_answers_the_host(net: Net) -> None:
    port = free_port()
    server = net.run("-p", f"127.0.0.1:{port}:8080", command=HTTPD)
    short_id = net.inspect(server)["Id"][:12]
    assert http_get(f"http://127.0.0.1:{port}/index.html") == f"hello-{short_id}\n"
    assert ok(net.docker("port", server)).strip() == f"8080/tcp -> 127.0.0.1:{port}"
    assert ok(net.docker("port", server, "8080")).strip() == f"127.0.0.1:{port}"
    # Bound to 127.0.0.1 only: the cluster's bridge address does not forward it.
    assert refused(f"http://{bridge_gateway(net)}:{port}/index.html")


def test_publish_on_all_addresses(net: Net) -> None:
    port = free_port()
    server = net.run("-p", f"{port}:8080", command=HTTPD)
    short_id = net.inspect(server)["Id"][:12]
    assert ok(net.docker("port", server)).splitlines()[0] == f"8080/tcp -> 0.0.0.0:{port}"
    for host in ("127.0.0.1", bridge_gateway(net)):
        assert http_get(f"http://{host}:{port}/index.html") == f"hello-{short_id}\n"
    rows = ok(net.docker("ps", "--filter", f"name={server}", "--format", "{{.Ports}}"))
    assert rows.strip() == f"0.0.0.0:{port}->8080/tcp"


def test_publish_all_exposed_ports(net: Net, cluster: Cluster,
                                   tmp_path_factory: pytest.TempPathFactory) -> None:
    image = f"exposing-{uuid.uuid4().hex[:6]}"
    tar = cached_busybox_rootfs_tar(tmp_path_factory.mktemp("busybox"))
    ok(net.docker("import", "--change", "EXPOSE 8080", str(tar), image))
    try:
        name = unique("c")
        net.containers.append(name)
        ok(net.docker("run", "-d", "--name", name, "-P", image, "sh", "-c", HTTPD))
        mapping = ok(net.docker("port", name, "8080/tcp")).splitlines()[0]
        host_ip, _, host_port = mapping.rpartition(":")
        assert host_ip == "0.0.0.0" and 32768 <= int(host_port) <= 60999
        assert http_get(f"http://127.0.0.1:{host_port}/").startswith("hello-")
        ports = net.inspect(name)["NetworkSettings"]["Ports"]
        assert ports == {"8080/tcp": [{"HostIp": "0.0.0.0", "HostPort": host_port}]}
    finally:
        net.docker("rm", "-f", name)
        net.docker("rmi", image)


def test_a_taken_host_port_fails_the_run_and_leaves_nothing(net: Net) -> None:
    port = free_port()
    net.run("-p", f"127.0.0.1:{port}:8080", command=HTTPD)
    second = unique("c")
    net.containers.append(second)
    result = net.docker("run", "-d", "--name", second, "-p", f"127.0.0.1:{port}:8080",
                        net.image, "sh", "-c", HTTPD)
    assert result.returncode == 125
    assert re.search(
        rf"docker: Error response from daemon: driver failed programming external connectivity "
        rf"on endpoint {second} \([0-9a-f]{{64}}\): Bind for 127\.0\.0\.1:{port} failed: port "
        rf"is already allocated", result.stderr), result.stderr
    second_id = net.inspect(second)["Id"]
    assert net.inspect(second)["State"]["Running"] is False
    assert not (net.cluster.exec_root / "netns" / second_id).exists()
    assert not [a for a in marked_links(net.cluster).values() if a.endswith(second_id)]

    # A port a host program serves is refused as well.
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        third = unique("c")
        net.containers.append(third)
        result = net.docker("run", "-d", "--name", third, "-p", f"127.0.0.1:{taken}:8080",
                            net.image, "sh", "-c", HTTPD)
        assert result.returncode == 125
        assert f"127.0.0.1:{taken}" in result.stderr, result.stderr
        assert not (net.cluster.exec_root / "netns" / net.inspect(third)["Id"]).exists()


def test_published_ports_leave_no_rules_after_removal(net: Net, cluster: Cluster) -> None:
    port = free_port()
    server = net.run("-p", f"127.0.0.1:{port}:8080", command=HTTPD)
    http_get(f"http://127.0.0.1:{port}/index.html")
    rules = _nat_rules_for(cluster, port)
    assert rules, "a published port has DNAT rules"
    ok(net.docker("rm", "-f", server))
    deadline = time.monotonic() + 10
    while _nat_rules_for(cluster, port) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _nat_rules_for(cluster, port) == []
    assert refused(f"http://127.0.0.1:{port}/index.html")


def _nat_rules_for(cluster: Cluster, port: int) -> list[str]:
    prefix = str(cluster.daemon_json["iptables-chain-prefix"])
    out = subprocess.run(["iptables", "-w", "-t", "nat", "-S"], capture_output=True, text=True,
                         check=False).stdout
    return [line for line in out.splitlines()
            if prefix in line and f"--dport {port}" in line]

