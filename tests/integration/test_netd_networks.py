"""netd networks against the real kernel: bridges, iptables, IPAM, reconcile.

One cluster for the module (its own bridge and chain prefix, see
tests/support/netclean.py); tests that kill netd wait for it to come back.
Every test removes the networks, namespaces, links and chains it made.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network

import docker
import docker.errors
import docker.types
import pytest

from services.common.grpc_client import open_channel
from services.netd.client import NetworksClient
from services.netd.settings import cluster_tag
from tests.support.cluster import Cluster, start_cluster

pytestmark = pytest.mark.root

# busybox-static is one of Dockyard's test packages; a host may lack iputils' ping.
PING = (shutil.which("ping") or shutil.which("busybox") or "busybox",
        *(() if shutil.which("ping") else ("ping",)), "-c1", "-W2")


@pytest.fixture(scope="module")
def net_cluster() -> Iterator[Cluster]:
    started = start_cluster()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def names(net_cluster: Cluster) -> Iterator[list[str]]:
    """Network names for one test; each is removed afterwards, whatever happened."""
    made: list[str] = []
    yield made
    for name in made:
        net_cluster.docker("network", "rm", name)


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def sh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False)


def prefix_of(cluster: Cluster) -> str:
    return str(cluster.daemon_json["iptables-chain-prefix"])


def tag_of(cluster: Cluster, network_id: str) -> str:
    """The comment netd puts on a network's rules (``net:<id12>:<cluster tag>``)."""
    return f"net:{network_id[:12]}:{cluster_tag(str(cluster.data_root))}"


def inspect(cluster: Cluster, name: str) -> dict[str, object]:
    result = cluster.docker("network", "inspect", name)
    assert result.returncode == 0, result.stderr
    data: list[dict[str, object]] = json.loads(result.stdout)
    return data[0]


def addresses(device: str) -> list[str]:
    result = sh("ip", "-j", "addr", "show", "dev", device)
    if result.returncode != 0:
        return []
    return [f"{a['local']}/{a['prefixlen']}" for link in json.loads(result.stdout)
            for a in link["addr_info"] if a["family"] == "inet"]


def all_rules() -> str:
    return sh("iptables", "-S").stdout + sh("iptables", "-t", "nat", "-S").stdout


def netd_client_call(cluster: Cluster, fn: object) -> object:
    async def run() -> object:
        async with open_channel(cluster.paths.service_target("netd")) as channel:
            return await fn(NetworksClient(channel))  # type: ignore[operator]
    return asyncio.run(run())


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


# ---- create / inspect / ls / rm ----------------------------------------------------


def test_create_inspect_ls_rm_through_the_cli(net_cluster: Cluster, names: list[str]) -> None:
    name = unique()
    names.append(name)
    created = net_cluster.docker(
        "network", "create", "--subnet", "10.201.0.0/24", "--gateway", "10.201.0.254",
        "--ip-range", "10.201.0.128/25", "--label", "team=net",
        "-o", "com.docker.network.bridge.enable_icc=false", name,
    )
    assert created.returncode == 0, created.stderr
    network_id = created.stdout.strip()
    assert len(network_id) == 64

    data = inspect(net_cluster, name)
    assert data["Id"] == network_id and data["Driver"] == "bridge" and data["Scope"] == "local"
    assert data["IPAM"] == {"Driver": "default", "Options": {}, "Config": [
        {"Subnet": "10.201.0.0/24", "Gateway": "10.201.0.254", "IPRange": "10.201.0.128/25"}]}
    assert data["Labels"] == {"team": "net"} and data["Containers"] == {}
    assert inspect(net_cluster, network_id[:10])["Name"] == name

    listed = net_cluster.docker("network", "ls", "--format", "{{.Name}} {{.Driver}}")
    assert f"{name} bridge" in listed.stdout.splitlines()
    assert {"bridge bridge", "host host", "none null"} <= set(listed.stdout.splitlines())

    device = f"br-{network_id[:12]}"
    assert addresses(device) == ["10.201.0.254/24"]
    rules = all_rules()
    tag = tag_of(net_cluster, network_id)
    ours = [line for line in rules.splitlines() if tag in line]
    assert ours and all(f" {prefix_of(net_cluster)}-" in line for line in ours)
    assert f"-i {device} -o {device} -m comment --comment \"{tag}\" -j DROP" in rules  # icc off
    assert f"-s 10.201.0.0/24 ! -o {device}" in rules  # masquerade

    removed = net_cluster.docker("network", "rm", name)
    assert removed.returncode == 0 and removed.stdout.strip() == name
    assert sh("ip", "link", "show", device).returncode != 0
    assert tag not in all_rules()
    gone = net_cluster.docker("network", "inspect", name)
    assert gone.returncode == 1 and f"network {name} not found" in gone.stderr


def test_internal_network_has_no_way_out(net_cluster: Cluster, names: list[str]) -> None:
    name = unique()
    names.append(name)
    assert net_cluster.docker("network", "create", "--internal", name).returncode == 0
    data = inspect(net_cluster, name)
    assert data["Internal"] is True
    tag = tag_of(net_cluster, str(data["Id"]))
    ours = [line for line in all_rules().splitlines() if tag in line]
    assert not any("MASQUERADE" in line for line in ours)
    assert sum(" -j DROP" in line and "ISOLATION-STAGE-1" in line for line in ours) == 2


def test_auto_subnets_are_disjoint_and_avoid_host_routes(
    net_cluster: Cluster, names: list[str]
) -> None:
    first, second = unique(), unique()
    names += [first, second]
    for name in (first, second):
        assert net_cluster.docker("network", "create", name).returncode == 0
    subnets = [IPv4Network(str(inspect(net_cluster, n)["IPAM"]["Config"][0]["Subnet"]))  # type: ignore[index]
               for n in (first, second, "bridge")]
    assert len({*subnets}) == 3
    assert not any(a.overlaps(b) for i, a in enumerate(subnets) for b in subnets[i + 1:])
    # No other route of the host lies inside them (only each network's own bridge).
    routes = json.loads(sh("ip", "-j", "route", "show").stdout)
    for route in routes:
        if route["dst"] == "default":
            continue
        dst = IPv4Network(route["dst"], strict=False)
        for subnet in subnets:
            if dst.overlaps(subnet):
                assert dst == subnet


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--subnet", "10.202.0.0/16"), "network with name {name} already exists"),
        (("--subnet", "10.201.0.0/16"),
         "invalid pool request: Pool overlaps with other one on this address space"),
        (("--subnet", "10.203.0.1/24"),
         "invalid subnet 10.203.0.1/24: it should be 10.203.0.0/24"),
        (("--subnet", "nonsense"), "invalid subnet nonsense: invalid CIDR block notation"),
        # The CLI checks ranges itself; the daemon's wording is tested through docker-py.
        (("--subnet", "10.204.0.0/24", "--ip-range", "10.205.0.0/24"),
         "no matching subnet for range 10.205.0.0/24"),
        (("-d", "nosuchdriver"),
         "could not find plugin nosuchdriver in v1 plugin registry: plugin not found"),
        (("--ipv6",), "IPv6 networks are not supported"),
    ],
)
def test_bad_input_gets_dockers_message(
    net_cluster: Cluster, names: list[str], args: tuple[str, ...], message: str
) -> None:
    taken = unique()
    names.append(taken)
    assert net_cluster.docker("network", "create", "--subnet", "10.201.0.0/24",
                              taken).returncode == 0
    name = taken if "already exists" in message else unique()
    names.append(name)
    result = net_cluster.docker("network", "create", *args, name)
    assert result.returncode == 1
    assert message.format(name=name) in result.stderr
    if name != taken:  # nothing half made: the refused network is not recorded
        listed = net_cluster.docker("network", "ls", "--format", "{{.Name}}").stdout
        assert name not in listed.split()


def test_builtin_networks_cannot_be_removed(net_cluster: Cluster) -> None:
    for name in ("bridge", "host", "none"):
        result = net_cluster.docker("network", "rm", name)
        assert result.returncode == 1
        assert f"{name} is a pre-defined network and cannot be removed" in result.stderr


def test_default_bridge_uses_the_configured_device(net_cluster: Cluster) -> None:
    data = inspect(net_cluster, "bridge")
    device = str(net_cluster.daemon_json["bridge"])
    assert data["Options"]["com.docker.network.bridge.name"] == device  # type: ignore[index]
    config = data["IPAM"]["Config"][0]  # type: ignore[index]
    prefix = IPv4Network(config["Subnet"]).prefixlen
    assert addresses(device) == [f"{config['Gateway']}/{prefix}"]


def test_docker_py_create_get_list_prune(net_cluster: Cluster) -> None:
    client = net_cluster.client()
    name = unique("py")
    try:
        ipam = docker.types.IPAMConfig(pool_configs=[
            docker.types.IPAMPool(subnet="10.206.0.0/24", gateway="10.206.0.1")])
        network = client.networks.create(name, driver="bridge", ipam=ipam,
                                         labels={"prune": "me"})
        assert client.networks.get(name).id == network.id
        assert [n.name for n in client.networks.list(filters={"label": "prune=me"})] == [name]
        assert client.networks.list(filters={"type": "builtin"})
        assert name not in [n.name for n in client.networks.list(filters={"type": "builtin"})]
        with pytest.raises(docker.errors.APIError) as err:
            client.networks.create(unique("py"), ipam=docker.types.IPAMConfig(pool_configs=[
                docker.types.IPAMPool(subnet="10.207.0.0/24", gateway="10.208.0.1")]))
        assert err.value.status_code == 400
        assert "invalid gateway 10.208.0.1: parent subnet 10.207.0.0/24 doesn't contain " \
               "this address" in str(err.value)
        with pytest.raises(docker.errors.NotFound):
            client.networks.get("no-such-network")
        pruned = client.networks.prune(filters={"label": "prune=me"})
        assert pruned["NetworksDeleted"] == [name]
        with pytest.raises(docker.errors.NotFound):
            client.networks.get(name)
    finally:
        with contextlib.suppress(docker.errors.APIError):
            client.api.remove_network(name)
        client.close()


# ---- IPAM ---------------------------------------------------------------------------


def test_concurrent_allocations_never_collide(net_cluster: Cluster, names: list[str]) -> None:
    name = unique()
    names.append(name)
    assert net_cluster.docker("network", "create", "--subnet", "10.209.0.0/24",
                              name).returncode == 0

    async def allocate_50(client: NetworksClient) -> list[str]:
        leases = await asyncio.gather(
            *(client.allocate_address(name, f"owner-{i}") for i in range(50))
        )
        return [lease.address for lease in leases]

    got = netd_client_call(net_cluster, allocate_50)
    assert isinstance(got, list) and len(set(got)) == 50
    assert "10.209.0.1" not in got  # the gateway is never handed out

    async def release_and_again(client: NetworksClient) -> tuple[str, str]:
        await client.release_address(name, "10.209.0.7")
        again = await client.allocate_address(name, "again")
        third = await client.allocate_address(name, "third")
        return again.address, third.address

    assert netd_client_call(net_cluster, release_and_again) == ("10.209.0.7", "10.209.0.52")


def test_a_name_used_again_finds_the_new_network(net_cluster: Cluster, names: list[str]) -> None:
    # netd remembers which network a name resolved to: a network removed and
    # made again under the same name must be the one addresses come from.
    name = unique()
    names.append(name)

    async def allocate(client: NetworksClient) -> str:
        return str((await client.allocate_address(name, "owner")).address)

    for subnet in ("10.209.31.0/24", "10.209.32.0/24"):
        made = net_cluster.docker("network", "create", "--subnet", subnet, name)
        assert made.returncode == 0, made.stderr
        address = netd_client_call(net_cluster, allocate)
        assert isinstance(address, str)
        assert IPv4Address(address) in IPv4Network(subnet), (subnet, address)
        removed = net_cluster.docker("network", "rm", name)
        assert removed.returncode == 0, removed.stderr


def test_two_namespaces_ping_across_a_user_bridge(net_cluster: Cluster, names: list[str]) -> None:
    name = unique()
    names.append(name)
    created = net_cluster.docker("network", "create", "--subnet", "10.210.0.0/24", name)
    assert created.returncode == 0
    bridge = f"br-{created.stdout.strip()[:12]}"
    tag = uuid.uuid4().hex[:6]
    namespaces = [f"dyt{tag}a", f"dyt{tag}b"]

    async def two(client: NetworksClient) -> list[str]:
        return [(await client.allocate_address(name, ns)).address for ns in namespaces]

    addrs = netd_client_call(net_cluster, two)
    assert isinstance(addrs, list)
    try:
        for ns, addr in zip(namespaces, addrs, strict=True):
            host_end, peer = f"v{ns}", f"p{ns}"
            for cmd in (
                ("ip", "netns", "add", ns),
                ("ip", "link", "add", host_end, "type", "veth", "peer", "name", peer),
                ("ip", "link", "set", host_end, "master", bridge, "up"),
                ("ip", "link", "set", peer, "netns", ns),
                ("ip", "-n", ns, "addr", "add", f"{addr}/24", "dev", peer),
                ("ip", "-n", ns, "link", "set", peer, "up"),
                ("ip", "-n", ns, "link", "set", "lo", "up"),
            ):
                result = sh(*cmd)
                assert result.returncode == 0, f"{cmd}: {result.stderr}"
        ping = sh("ip", "netns", "exec", namespaces[0], *PING, addrs[1])
        assert ping.returncode == 0, ping.stdout + ping.stderr
        gateway = sh("ip", "netns", "exec", namespaces[1], *PING, "10.210.0.1")
        assert gateway.returncode == 0, gateway.stdout + gateway.stderr
    finally:
        for ns in namespaces:
            sh("ip", "link", "del", f"v{ns}")  # deleting one end removes the pair
            sh("ip", "netns", "del", ns)


# ---- restart and reconcile ----------------------------------------------------------------


def test_netd_restart_keeps_everything(net_cluster: Cluster, names: list[str]) -> None:
    name = unique()
    names.append(name)
    assert net_cluster.docker("network", "create", name).returncode == 0
    before = inspect(net_cluster, name)
    device = f"br-{str(before['Id'])[:12]}"
    addrs_before, rules_before = addresses(device), sorted(all_rules().splitlines())

    restart_netd(net_cluster)

    assert inspect(net_cluster, name) == before
    assert addresses(device) == addrs_before
    assert sorted(all_rules().splitlines()) == rules_before


def test_reconcile_removes_only_its_own_orphans(net_cluster: Cluster) -> None:
    prefix = prefix_of(net_cluster)
    orphan_id = "dead" + uuid.uuid4().hex[:8]
    orphan, foreign = f"br-{orphan_id}", f"notours{uuid.uuid4().hex[:4]}"
    cluster = cluster_tag(str(net_cluster.data_root))
    chain, orphan_tag = f"{prefix}-FORWARD", f"net:{orphan_id}:{cluster}"
    # Same prefix, another cluster's tag: not ours to judge, so it must stay.
    other_tag = f"net:{orphan_id}:00000000"
    try:
        assert sh("ip", "link", "add", orphan, "type", "bridge").returncode == 0
        assert sh("ip", "link", "set", orphan, "alias",
                  f"dockyard:{prefix}:{cluster}:net:{orphan_id}").returncode == 0
        assert sh("ip", "link", "add", foreign, "type", "bridge").returncode == 0
        assert sh("iptables", "-A", chain, "-i", orphan, "-m", "comment", "--comment",
                  orphan_tag, "-j", "ACCEPT").returncode == 0
        assert sh("iptables", "-A", chain, "-i", orphan, "-m", "comment", "--comment",
                  other_tag, "-j", "ACCEPT").returncode == 0
        assert sh("iptables", "-N", "NOTOURS").returncode == 0
        assert sh("iptables", "-A", "NOTOURS", "-i", foreign, "-m", "comment", "--comment",
                  orphan_tag, "-j", "ACCEPT").returncode == 0

        restart_netd(net_cluster)

        assert sh("ip", "link", "show", orphan).returncode != 0
        assert orphan_tag not in sh("iptables", "-S", chain).stdout
        assert other_tag in sh("iptables", "-S", chain).stdout
        assert sh("ip", "link", "show", foreign).returncode == 0
        assert orphan_tag in sh("iptables", "-S", "NOTOURS").stdout
    finally:
        sh("ip", "link", "del", orphan)
        sh("ip", "link", "del", foreign)
        for tag in (orphan_tag, other_tag):
            while sh("iptables", "-D", chain, "-i", orphan, "-m", "comment", "--comment",
                     tag, "-j", "ACCEPT").returncode == 0:
                pass
        sh("iptables", "-F", "NOTOURS")
        sh("iptables", "-X", "NOTOURS")
