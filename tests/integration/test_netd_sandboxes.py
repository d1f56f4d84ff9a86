"""netd sandboxes against the real kernel: namespaces, veths, routes, ports, DNS, restart.

One cluster for the module (its own bridge, chain prefix and exec-root). Each
test removes the sandboxes and networks it made; programs run inside a
namespace (busybox ping, httpd, nslookup) are started by PID and killed by PID.
No packet leaves the host: traffic stays between namespaces made here and the
host's own addresses, and DNS forwarding goes to a server the test runs on
127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import socket
import struct
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest

from services.common.errors import Conflict, Forbidden, InvalidArgument, NotFound
from services.common.grpc_client import open_channel
from services.netd.client import NetworksClient
from services.netd.models import EndpointRequest, PortBinding, Sandbox, SandboxSpec
from services.netd.settings import cluster_tag
from tests.support.cluster import Cluster, start_cluster
from tests.support.cluster_etcd import etcd_get, etcd_put
from tests.support.netclean import owned_links

pytestmark = pytest.mark.root

BUSYBOX = "/bin/busybox"
T = TypeVar("T")


@pytest.fixture(scope="module")
def net_cluster() -> Iterator[Cluster]:
    started = start_cluster()
    try:
        yield started
    finally:
        started.stop()


def run(cluster: Cluster, fn: Callable[[NetworksClient], Awaitable[T]]) -> T:
    async def body() -> T:
        async with open_channel(cluster.paths.service_target("netd")) as channel:
            return await fn(NetworksClient(channel))
    return asyncio.run(body())


class Made:
    """Sandboxes and networks of one test, removed afterwards whatever happened."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.sandboxes: list[str] = []
        self.networks: list[str] = []

    def network(self, subnet: str, *args: str) -> str:
        name = f"sb-{uuid.uuid4().hex[:8]}"
        result = self.cluster.docker("network", "create", "--subnet", subnet, *args, name)
        assert result.returncode == 0, result.stderr
        self.networks.append(name)
        return name

    def sandbox(self, network_mode: str = "bridge", **kwargs: Any) -> Sandbox:
        cid = secrets.token_hex(32)
        name = kwargs.pop("container_name", f"c-{cid[:6]}")
        spec = SandboxSpec(container_id=cid, container_name=name,
                           hostname=kwargs.pop("hostname", cid[:12]),
                           network_mode=network_mode, **kwargs)
        self.sandboxes.append(cid)
        return run(self.cluster, lambda c: c.create_sandbox(spec))

    def remove(self, cid: str) -> None:
        run(self.cluster, lambda c: c.remove_sandbox(cid))


@pytest.fixture
def made(net_cluster: Cluster) -> Iterator[Made]:
    made = Made(net_cluster)
    yield made
    for cid in made.sandboxes:
        made.remove(cid)
    for name in made.networks:
        net_cluster.docker("network", "rm", name)


def in_ns(sandbox: Sandbox, *cmd: str, timeout: float = 10) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nsenter", f"--net={sandbox.netns_path}", *cmd],
                          capture_output=True, text=True, timeout=timeout, check=False)


def ping(sandbox: Sandbox, address: str) -> bool:
    return in_ns(sandbox, BUSYBOX, "ping", "-c1", "-W1", address).returncode == 0


def ip_json(sandbox: Sandbox, *args: str) -> Any:
    result = in_ns(sandbox, "ip", "-j", *args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def sh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False)


def nat_and_filter_rules() -> str:
    return "".join(sh("iptables", "-t", t, "-S").stdout for t in ("filter", "nat", "raw"))


def wait_for(predicate: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def prefix_of(cluster: Cluster) -> str:
    return str(cluster.daemon_json["iptables-chain-prefix"])


def sandbox_links(cluster: Cluster, cid: str) -> list[str]:
    """Host links carrying this sandbox's mark."""
    result = sh("ip", "-j", "-d", "link", "show")
    return [link["ifname"] for link in json.loads(result.stdout or "[]")
            if str(link.get("ifalias", "")).endswith(f":sb:{cid}")]


def restart_netd(cluster: Cluster) -> None:
    old = cluster.pid_of("netd")
    assert old is not None
    os.kill(old, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        pid = cluster.pid_of("netd")
        if pid is not None and pid != old and cluster.docker("network", "ls").returncode == 0:
            return
        time.sleep(0.1)
    pytest.fail(f"netd did not come back\n{cluster.log_tail()}")


class Httpd:
    """busybox httpd serving one file inside a namespace; killed by its PID."""

    def __init__(self, sandbox: Sandbox, port: int, body: str) -> None:
        self.root = Path(f"/tmp/dyt-httpd-{uuid.uuid4().hex[:8]}")
        self.root.mkdir()
        (self.root / "index.html").write_text(body)
        self.process = subprocess.Popen(
            ["nsenter", f"--net={sandbox.netns_path}", BUSYBOX, "httpd", "-f", "-p",
             str(port), "-h", str(self.root)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        # busybox httpd listens on a dual-stack IPv6 socket: look at both tables.
        if not wait_for(lambda: f":{port:04X} " in in_ns(
                sandbox, "cat", "/proc/net/tcp", "/proc/net/tcp6").stdout):
            self.stop()
            pytest.fail("busybox httpd did not start in the sandbox")

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        for child in self.root.iterdir():
            child.unlink()
        self.root.rmdir()


def http_get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def host_address() -> str:
    """An address of this host other than loopback (traffic to it stays on the host)."""
    for entry in json.loads(sh("ip", "-j", "-4", "addr", "show").stdout):
        for info in entry["addr_info"]:
            if entry["ifname"] != "lo" and not entry["ifname"].startswith(("dy", "br-", "veth")):
                return str(info["local"])
    pytest.skip("the host has no non-loopback IPv4 address")


# ---- endpoints ------------------------------------------------------------------------


def test_two_sandboxes_on_one_network_ping_each_other(net_cluster: Cluster, made: Made) -> None:
    name = made.network("10.211.0.0/24")
    first = made.sandbox(name, hostname="alpha")
    second = made.sandbox(name, hostname="beta")

    assert Path(first.netns_path).exists() and first.sandbox_key == first.netns_path
    assert first.netns_path.startswith(str(net_cluster.exec_root / "netns") + "/")
    (endpoint,) = first.endpoints
    assert (endpoint.network_name, endpoint.ip_address, endpoint.ip_prefix_len,
            endpoint.gateway) == (name, "10.211.0.2", 24, "10.211.0.1")
    assert endpoint.mac_address == "02:42:0a:d3:00:02" and endpoint.interface == "eth0"
    assert endpoint.host_interface.startswith("veth") and len(endpoint.host_interface) == 11
    links = {link["ifname"]: link for link in ip_json(first, "link", "show")}
    assert set(links) == {"lo", "eth0"}
    assert links["eth0"]["address"] == "02:42:0a:d3:00:02"
    assert "UP" in links["lo"]["flags"]
    routes = ip_json(first, "route", "show")
    assert {"dst": "default", "gateway": "10.211.0.1", "dev": "eth0"}.items() <= routes[0].items()
    # The host end sits in the network's bridge.
    bridge = "br-" + json.loads(net_cluster.docker("network", "inspect", name).stdout)[0]["Id"][:12]
    master = json.loads(sh("ip", "-j", "link", "show", endpoint.host_interface).stdout)[0]
    assert master["master"] == bridge

    hosts = Path(first.hosts_path).read_text()
    assert hosts.startswith("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    assert hosts.endswith("10.211.0.2\talpha\n")
    assert Path(first.hostname_path).read_text() == "alpha\n"
    resolv = Path(first.resolv_conf_path).read_text()
    assert "nameserver 10.211.0.1\n" in resolv and "options ndots:0" in resolv

    assert ping(first, second.endpoints[0].ip_address)
    assert ping(second, "10.211.0.1")

    containers = json.loads(net_cluster.docker("network", "inspect", name).stdout)[0]["Containers"]
    assert containers[first.container_id] == {
        "Name": made_name(first), "EndpointID": endpoint.endpoint_id,
        "MacAddress": "02:42:0a:d3:00:02", "IPv4Address": "10.211.0.2/24", "IPv6Address": "",
    }
    assert set(containers) == {first.container_id, second.container_id}
    busy = net_cluster.docker("network", "rm", name)
    assert busy.returncode == 1 and "has active endpoints" in busy.stderr

    made.remove(first.container_id)
    assert not Path(first.netns_path).exists() and not Path(first.hosts_path).exists()
    assert wait_for(lambda: not sandbox_links(net_cluster, first.container_id))
    with pytest.raises(NotFound):
        run(net_cluster, lambda c: c.get_sandbox(first.container_id))
    made.remove(first.container_id)  # idempotent
    containers = json.loads(net_cluster.docker("network", "inspect", name).stdout)[0]["Containers"]
    assert set(containers) == {second.container_id}
    # Its address is free again.
    third = made.sandbox(name)
    assert third.endpoints[0].ip_address == "10.211.0.2"


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def made_name(sandbox: Sandbox) -> str:
    return f"c-{sandbox.container_id[:6]}"


def test_default_bridge_none_host_and_container_modes(net_cluster: Cluster, made: Made) -> None:
    bridged = made.sandbox("bridge", extra_hosts=("gw:host-gateway", "db:10.1.2.3"))
    (endpoint,) = bridged.endpoints
    assert endpoint.network_name == "bridge" and endpoint.dns_names == ()
    hosts = Path(bridged.hosts_path).read_text().splitlines()
    assert hosts[-3:] == [f"{endpoint.gateway}\tgw", "10.1.2.3\tdb",
                          f"{endpoint.ip_address}\t{bridged.container_id[:12]}"]
    resolv = Path(bridged.resolv_conf_path).read_text()
    assert "nameserver 127." not in resolv and "nameserver " in resolv
    assert f"nameserver {endpoint.gateway}" not in resolv  # no embedded DNS on the bridge

    none = made.sandbox("none")
    assert none.endpoints == () and Path(none.netns_path).exists()
    links = ip_json(none, "link", "show")
    assert [link["ifname"] for link in links] == ["lo"] and "UP" in links[0]["flags"]
    assert Path(none.hosts_path).read_text().splitlines()[-1] == "ff02::2\tip6-allrouters"

    host = made.sandbox("host")
    assert host.netns_path == "" and host.endpoints == ()
    assert Path(host.hosts_path).read_text().startswith(Path("/etc/hosts").read_text())
    host_servers = [line for line in Path("/etc/resolv.conf").read_text().splitlines()
                    if line.startswith("nameserver")]
    assert all(line in Path(host.resolv_conf_path).read_text() for line in host_servers)

    joined = run(net_cluster, lambda c: c.create_sandbox(SandboxSpec(
        container_id=secrets.token_hex(32), container_name="joiner", hostname="j",
        network_mode=f"container:{bridged.container_id}")))
    assert joined.netns_path == bridged.netns_path
    assert joined.hosts_path == bridged.hosts_path and joined.endpoints == ()
    with pytest.raises(NotFound):
        run(net_cluster, lambda c: c.create_sandbox(SandboxSpec(
            container_id=secrets.token_hex(32), container_name="x", hostname="x",
            network_mode=f"container:{secrets.token_hex(32)}")))


def test_networks_are_isolated_and_internal_has_no_way_out(
    net_cluster: Cluster, made: Made
) -> None:
    red = made.sandbox(made.network("10.212.0.0/24"))
    blue = made.sandbox(made.network("10.213.0.0/24"))
    assert ping(red, "10.212.0.1") and ping(blue, "10.213.0.1")
    assert not ping(red, blue.endpoints[0].ip_address)
    assert not ping(blue, red.endpoints[0].ip_address)

    internal = made.sandbox(made.network("10.214.0.0/24", "--internal"))
    assert not [r for r in ip_json(internal, "route", "show") if r["dst"] == "default"]
    unreachable = in_ns(internal, "ip", "route", "get", "10.212.0.2")
    assert unreachable.returncode != 0 and "unreachable" in unreachable.stderr
    assert not ping(red, internal.endpoints[0].ip_address)


def test_icc_disabled_blocks_peers_but_not_the_gateway(net_cluster: Cluster, made: Made) -> None:
    name = made.network("10.215.0.0/24", "-o", "com.docker.network.bridge.enable_icc=false")
    first, second = made.sandbox(name), made.sandbox(name)
    assert ping(first, "10.215.0.1")
    assert not ping(first, second.endpoints[0].ip_address)


def test_mtu_comes_from_the_network(net_cluster: Cluster, made: Made) -> None:
    name = made.network("10.216.0.0/24", "-o", "com.docker.network.driver.mtu=1400")
    sandbox = made.sandbox(name)
    links = {link["ifname"]: link for link in ip_json(sandbox, "link", "show")}
    assert links["eth0"]["mtu"] == 1400


# ---- ports ----------------------------------------------------------------------------


def test_published_port_answers_on_loopback_host_address_and_peers(
    net_cluster: Cluster, made: Made
) -> None:
    name = made.network("10.217.0.0/24")
    server = made.sandbox(name, port_bindings=(PortBinding(8080),))
    (port,) = server.ports
    assert port.container_port == 8080 and port.protocol == "tcp"
    assert port.host_ip == "0.0.0.0" and 32768 <= port.host_port <= 60999
    peer = made.sandbox(name)
    stranger = made.sandbox(made.network("10.218.0.0/24"))
    httpd = Httpd(server, 8080, "hello from the sandbox\n")
    try:
        assert http_get(f"http://127.0.0.1:{port.host_port}/") == "hello from the sandbox\n"
        assert http_get(f"http://{host_address()}:{port.host_port}/") == \
            "hello from the sandbox\n"
        for client in (peer, stranger):  # same network (hairpin) and another network
            # (no -T: this busybox build's wget crashes with it)
            got = in_ns(client, BUSYBOX, "wget", "-q", "-O", "-",
                        f"http://{client.endpoints[0].gateway}:{port.host_port}/")
            assert got.stdout == "hello from the sandbox\n", got.stderr
    finally:
        httpd.stop()

    # The port is held: another sandbox, or another program, cannot take it.
    with pytest.raises(Conflict) as taken:
        made.sandbox(name, port_bindings=(PortBinding(80, host_port=port.host_port),))
    assert f"Bind for 0.0.0.0:{port.host_port} failed: port is already allocated" in \
        taken.value.message
    with socket.socket() as other, pytest.raises(OSError):
        other.bind(("127.0.0.1", port.host_port))

    tag = f"ctr:{server.container_id[:12]}:{cluster_tag(str(net_cluster.data_root))}"
    assert tag in nat_and_filter_rules()
    made.remove(server.container_id)
    # The rules go, then the port is free (netd deletes rules in the background).
    assert wait_for(lambda: tag not in nat_and_filter_rules())
    assert wait_for(lambda: port_is_free(port.host_port))


def test_fixed_and_range_ports_and_publish_all(net_cluster: Cluster, made: Made) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        fixed = probe.getsockname()[1]
    sandbox = made.sandbox(
        "bridge", port_bindings=(PortBinding(80, host_port=fixed, host_ip="127.0.0.1"),
                                 PortBinding(53, "udp", host_port=fixed + 1,
                                             host_port_end=fixed + 3)),
        exposed_ports=((80, "tcp"), (9000, "tcp")), publish_all=True,
    )
    got = {(p.container_port, p.protocol): p for p in sandbox.ports}
    assert got[(80, "tcp")].host_port == fixed and got[(80, "tcp")].host_ip == "127.0.0.1"
    assert fixed + 1 <= got[(53, "udp")].host_port <= fixed + 3
    assert 32768 <= got[(9000, "tcp")].host_port <= 60999
    assert len(sandbox.ports) == 3
    assert run(net_cluster, lambda c: c.get_sandbox(sandbox.container_id)).ports == \
        sandbox.ports


def test_bad_input_is_refused_and_leaves_nothing(net_cluster: Cluster, made: Made) -> None:
    name = made.network("10.219.0.0/24")
    holder = made.sandbox(name, endpoints=(EndpointRequest(name, ipv4_address="10.219.0.9"),))
    assert holder.endpoints[0].ip_address == "10.219.0.9"
    before = {p.name for p in (net_cluster.exec_root / "netns").iterdir()}
    with socket.socket() as squatter:
        squatter.bind(("0.0.0.0", 0))
        squatter.listen(1)
        busy = squatter.getsockname()[1]
        cases: list[tuple[SandboxSpec, type[Exception], str]] = [
            (spec("no-such-net"), NotFound, "network no-such-net not found"),
            (spec(name, endpoints=(EndpointRequest(name, ipv4_address="10.99.0.5"),)),
             InvalidArgument, "no configured subnet contains IP address 10.99.0.5"),
            (spec(name, endpoints=(EndpointRequest(name, ipv4_address="10.219.0.9"),)),
             Conflict, "Address already in use"),
            (spec(name, port_bindings=(PortBinding(80, host_port=busy),)), Conflict,
             f"listen tcp4 0.0.0.0:{busy}: bind: address already in use"),
            (spec(name, port_bindings=(PortBinding(0),)), InvalidArgument,
             "invalid containerPort: 0"),
            (spec("bridge", endpoints=(EndpointRequest("bridge", aliases=("x",)),)),
             InvalidArgument, "network-scoped alias is supported only"),
            (spec("bridge", extra_hosts=("nocolon",)), InvalidArgument,
             "invalid IP address in add-host"),
        ]
        for bad, kind, message in cases:
            with pytest.raises(kind) as err:
                run(net_cluster, lambda c, s=bad: c.create_sandbox(s))  # type: ignore[misc]
            assert message in str(err.value), (bad, err.value)
            with pytest.raises(NotFound):
                run(net_cluster, lambda c, s=bad: c.get_sandbox(s.container_id))  # type: ignore[misc]
    assert {p.name for p in (net_cluster.exec_root / "netns").iterdir()} == before
    containers = json.loads(net_cluster.docker("network", "inspect", name).stdout)[0]["Containers"]
    assert set(containers) == {holder.container_id}
    # The refused --ip did not lose its owner's lease, and the next free one is .2.
    assert made.sandbox(name).endpoints[0].ip_address == "10.219.0.2"


def test_an_address_leased_behind_netds_back_refuses_the_start_and_leaves_nothing(
    net_cluster: Cluster, made: Made
) -> None:
    # netd knows the taken addresses of a network from memory and writes a
    # sandbox's lease in the transaction that records it, on the condition
    # that nobody holds it: someone who does makes that start fail cleanly.
    name = made.network("10.218.0.0/24")
    made.sandbox(name)  # .2; netd now holds the network's leases in memory
    network_id = json.loads(net_cluster.docker("network", "inspect", name).stdout)[0]["Id"]
    squatted = f"ipam/{network_id}/10.218.0.3"
    etcd_put(net_cluster, squatted, b'{"owner": "someone else", "v": 1}')
    before = {p.name for p in (net_cluster.exec_root / "netns").iterdir()}
    links_before = owned_links(prefix_of(net_cluster))

    refused = spec(name)
    with pytest.raises(Conflict, match="Address already in use"):
        run(net_cluster, lambda c: c.create_sandbox(refused))

    with pytest.raises(NotFound):
        run(net_cluster, lambda c: c.get_sandbox(refused.container_id))
    assert {p.name for p in (net_cluster.exec_root / "netns").iterdir()} == before
    assert owned_links(prefix_of(net_cluster)) == links_before
    assert etcd_get(net_cluster, squatted) == b'{"owner": "someone else", "v": 1}'
    # The squatted address stays out of use; the next start gets the one after it.
    assert made.sandbox(name).endpoints[0].ip_address == "10.218.0.4"


def spec(network_mode: str, **kwargs: Any) -> SandboxSpec:
    cid = secrets.token_hex(32)
    return SandboxSpec(container_id=cid, container_name=f"bad-{cid[:6]}", hostname=cid[:12],
                       network_mode=network_mode, **kwargs)


# ---- DNS ------------------------------------------------------------------------------


class LoopbackDns:
    """A DNS server on 127.0.0.1 answering every A query with 192.0.2.7 (an upstream)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.names: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(512)
            except OSError:
                return
            end = data.index(b"\0", 12) + 5
            labels, pos = [], 12
            while data[pos]:
                labels.append(data[pos + 1:pos + 1 + data[pos]].decode())
                pos += 1 + data[pos]
            self.names.append(".".join(labels))
            answer = struct.pack("!HHHIH", 0xC00C, 1, 1, 60, 4) + socket.inet_aton("192.0.2.7")
            header = data[:2] + struct.pack("!HHHHH", 0x8180, 1, 1, 0, 0)
            self.sock.sendto(header + data[12:end] + answer, peer)

    def close(self) -> None:
        self.sock.close()


def lookup(sandbox: Sandbox, name: str, server: str) -> list[str]:
    """Addresses busybox nslookup gets for ``name`` from ``server`` inside the sandbox."""
    result = in_ns(sandbox, BUSYBOX, "nslookup", "-type=a", name, server)
    answers = result.stdout.split("Non-authoritative answer:", 1)[-1] \
        if "answer:" in result.stdout else result.stdout.split(server, 1)[-1]
    return [line.split()[-1] for line in answers.splitlines()
            if line.startswith("Address") and server not in line]


TCP_QUERY = """
import socket, struct, sys
name, server = sys.argv[1], sys.argv[2]
question = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\\0\\0\\1\\0\\1"
query = struct.pack("!HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0) + question
with socket.create_connection((server, 53), timeout=3) as sock:
    sock.sendall(struct.pack("!H", len(query)) + query)
    data = b""
    while len(data) < 2 or len(data) < 2 + struct.unpack("!H", data[:2])[0]:
        data += sock.recv(4096)
print(socket.inet_ntoa(data[-4:]))
"""


def tcp_lookup(sandbox: Sandbox, name: str, server: str) -> str:
    """The A record a DNS query over TCP from inside the sandbox gets (a python client)."""
    result = in_ns(sandbox, "python3", "-c", TCP_QUERY, name, server)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.fixture
def upstream() -> Iterator[LoopbackDns]:
    server = LoopbackDns()
    yield server
    server.close()


def test_dns_resolves_names_and_aliases_of_peers(
    net_cluster: Cluster, made: Made, upstream: LoopbackDns
) -> None:
    name = made.network("10.220.0.0/24")
    other = made.network("10.221.0.0/24")
    dns = (upstream.address,)
    web = made.sandbox(name, container_name=f"web-{uuid.uuid4().hex[:4]}", dns=dns,
                       endpoints=(EndpointRequest(name, aliases=("www",)),))
    client = made.sandbox(name, dns=dns)
    outsider = made.sandbox(other, dns=dns, container_name=f"out-{uuid.uuid4().hex[:4]}")
    web_ip, gateway = web.endpoints[0].ip_address, "10.220.0.1"
    web_name = web.endpoints[0].dns_names[0]
    assert web.endpoints[0].dns_names == (web_name, "www", web.container_id[:12])

    assert lookup(client, web_name, gateway) == [web_ip]
    assert lookup(client, "www", gateway) == [web_ip]
    assert lookup(client, f"{web_name}.{name}", gateway) == [web_ip]
    assert lookup(client, web.container_id[:12], gateway) == [web_ip]
    assert tcp_lookup(client, "www", gateway) == web_ip  # and over TCP
    assert upstream.names == []
    # A name on a network the asker does not share goes upstream, like any other name.
    outsider_name = outsider.endpoints[0].dns_names[0]
    assert lookup(client, outsider_name, gateway) == ["192.0.2.7"]
    assert lookup(client, "example.test", gateway) == ["192.0.2.7"]
    assert upstream.names == [outsider_name, "example.test"]

    # connect: the outsider becomes resolvable; disconnect: it is gone again.
    run(net_cluster, lambda c: c.connect_container(outsider.container_id, EndpointRequest(name)))
    joined = run(net_cluster, lambda c: c.get_sandbox(outsider.container_id))
    assert lookup(client, outsider_name, gateway) == [joined.endpoints[1].ip_address]
    run(net_cluster, lambda c: c.disconnect_container(outsider.container_id, name))
    assert lookup(client, outsider_name, gateway) == ["192.0.2.7"]


def test_default_bridge_has_no_name_resolution(
    net_cluster: Cluster, made: Made, upstream: LoopbackDns
) -> None:
    first = made.sandbox("bridge", container_name=f"b1-{uuid.uuid4().hex[:4]}")
    second = made.sandbox("bridge")
    assert first.endpoints[0].dns_names == ()
    assert "nameserver " + first.endpoints[0].gateway not in \
        Path(second.resolv_conf_path).read_text()


# ---- connect / disconnect -------------------------------------------------------------


def test_connect_and_disconnect_while_running(net_cluster: Cluster, made: Made) -> None:
    one, two = made.network("10.222.0.0/24"), made.network("10.223.0.0/24")
    sandbox = made.sandbox(one, hostname="mover")
    peer = made.sandbox(two)
    assert not ping(sandbox, peer.endpoints[0].ip_address)

    connected = run(net_cluster, lambda c: c.connect_container(
        sandbox.container_id, EndpointRequest(two, ipv4_address="10.223.0.50", aliases=("m",))))
    assert [e.network_name for e in connected.endpoints] == [one, two]
    second = connected.endpoints[1]
    assert (second.interface, second.ip_address, second.aliases) == ("eth1", "10.223.0.50",
                                                                     ("m",))
    assert ping(sandbox, peer.endpoints[0].ip_address)
    assert Path(sandbox.hosts_path).read_text().endswith(
        "10.222.0.2\tmover\n10.223.0.50\tmover\n")
    containers = json.loads(net_cluster.docker("network", "inspect", two).stdout)[0]["Containers"]
    assert containers[sandbox.container_id]["IPv4Address"] == "10.223.0.50/24"
    with pytest.raises(Forbidden):
        run(net_cluster, lambda c: c.connect_container(sandbox.container_id,
                                                       EndpointRequest(two)))

    # Leaving the network of the default route moves the route to the other one.
    left = run(net_cluster, lambda c: c.disconnect_container(sandbox.container_id, one))
    assert [e.network_name for e in left.endpoints] == [two]
    assert [link["ifname"] for link in ip_json(sandbox, "link", "show")] == ["lo", "eth1"]
    default = [r for r in ip_json(sandbox, "route", "show") if r["dst"] == "default"]
    assert default and default[0]["gateway"] == "10.223.0.1"
    assert Path(sandbox.hosts_path).read_text().endswith("\n10.223.0.50\tmover\n")
    containers = json.loads(net_cluster.docker("network", "inspect", one).stdout)[0]["Containers"]
    assert sandbox.container_id not in containers
    with pytest.raises(Forbidden):
        run(net_cluster, lambda c: c.disconnect_container(sandbox.container_id, one))
    run(net_cluster, lambda c: c.disconnect_container(sandbox.container_id, one, force=True))

    # What `docker network connect` of a stopped container checks, without reserving.
    network = run(net_cluster, lambda c: c.check_endpoint(EndpointRequest(one)))
    assert network.name == one
    with pytest.raises(InvalidArgument):
        run(net_cluster, lambda c: c.check_endpoint(
            EndpointRequest(one, ipv4_address="192.168.250.1")))
    with pytest.raises(Forbidden):
        run(net_cluster, lambda c: c.check_endpoint(EndpointRequest(one), (one,)))


def test_stats_count_traffic_per_interface(net_cluster: Cluster, made: Made) -> None:
    sandbox = made.sandbox(made.network("10.224.0.0/24"))
    assert ping(sandbox, "10.224.0.1")
    stats = run(net_cluster, lambda c: c.sandbox_stats(sandbox.container_id))
    assert set(stats) == {"eth0"}
    assert stats["eth0"].tx_packets >= 1 and stats["eth0"].rx_packets >= 1
    assert stats["eth0"].rx_bytes > 0 and stats["eth0"].tx_bytes > 0


# ---- restart and reconcile ------------------------------------------------------------


def test_kill_netd_keeps_sandboxes_then_remove_leaves_nothing(
    net_cluster: Cluster, made: Made, upstream: LoopbackDns
) -> None:
    name = made.network("10.225.0.0/24")
    server = made.sandbox(name, container_name=f"srv-{uuid.uuid4().hex[:4]}",
                          port_bindings=(PortBinding(80),), dns=(upstream.address,))
    client = made.sandbox(name, dns=(upstream.address,))
    port = server.ports[0].host_port
    server_name = server.endpoints[0].dns_names[0]
    prefix = prefix_of(net_cluster)
    cluster = cluster_tag(str(net_cluster.data_root))
    # Orphans of this cluster netd must remove, and a foreign veth it must leave alone.
    orphan_id = secrets.token_hex(32)
    orphan_ns = net_cluster.exec_root / "netns" / orphan_id
    orphan_link, foreign = f"veth{uuid.uuid4().hex[:7]}", f"vethx{uuid.uuid4().hex[:6]}"
    orphan_tag = f"ctr:{orphan_id[:12]}:{cluster}"
    nat_chain = f"{prefix}-DNAT"
    try:
        assert sh("ip", "netns", "add", f"dyt-{orphan_id[:8]}").returncode == 0
        orphan_ns.write_text("")
        assert sh("mount", "--bind", f"/run/netns/dyt-{orphan_id[:8]}",
                  str(orphan_ns)).returncode == 0
        assert sh("ip", "link", "add", orphan_link, "type", "veth", "peer", "name",
                  orphan_link + "p").returncode == 0
        assert sh("ip", "link", "set", orphan_link, "alias",
                  f"dockyard:{prefix}:{cluster}:sb:{orphan_id}").returncode == 0
        assert sh("ip", "link", "add", foreign, "type", "veth", "peer", "name",
                  foreign + "p").returncode == 0
        assert sh("iptables", "-t", "nat", "-A", nat_chain, "-p", "tcp", "--dport", "1",
                  "-m", "comment", "--comment", orphan_tag, "-j", "DNAT",
                  "--to-destination", "10.225.0.99:1").returncode == 0
        rules_before = sorted(line for line in nat_and_filter_rules().splitlines()
                              if "ctr:" in line and orphan_tag not in line)

        restart_netd(net_cluster)

        assert run(net_cluster, lambda c: c.get_sandbox(server.container_id)) == server
        assert ping(client, server.endpoints[0].ip_address)
        assert lookup(client, server_name, "10.225.0.1") == [server.endpoints[0].ip_address]
        httpd = Httpd(server, 80, "still here\n")
        try:
            assert http_get(f"http://127.0.0.1:{port}/") == "still here\n"
        finally:
            httpd.stop()
        with pytest.raises(Conflict):
            made.sandbox(name, port_bindings=(PortBinding(80, host_port=port),))
        assert sorted(line for line in nat_and_filter_rules().splitlines()
                      if "ctr:" in line) == rules_before
        assert not orphan_ns.exists()
        assert sh("ip", "link", "show", orphan_link).returncode != 0
        assert sh("ip", "link", "show", foreign).returncode == 0
        assert orphan_tag not in nat_and_filter_rules()
    finally:
        sh("ip", "link", "del", orphan_link)
        sh("ip", "link", "del", foreign)
        sh("umount", "-l", str(orphan_ns))
        orphan_ns.unlink(missing_ok=True)
        sh("ip", "netns", "del", f"dyt-{orphan_id[:8]}")
        while sh("iptables", "-t", "nat", "-D", nat_chain, "-p", "tcp", "--dport", "1", "-m",
                 "comment", "--comment", orphan_tag, "-j", "DNAT", "--to-destination",
                 "10.225.0.99:1").returncode == 0:
            pass

    for cid in list(made.sandboxes):
        made.remove(cid)
    made.sandboxes.clear()
    assert wait_for(lambda: not [n for n in owned_links(prefix) if n.startswith("veth")])
    assert not list((net_cluster.exec_root / "netns").iterdir())
    assert wait_for(lambda: not [line for line in nat_and_filter_rules().splitlines()
                                 if "ctr:" in line and f":{cluster}" in line])
    assert wait_for(lambda: port_is_free(port))
    assert net_cluster.docker("network", "rm", name).returncode == 0
    made.networks.remove(name)
