"""Pure parts of netd's sandboxes: files, DNS wire format and index, ports, port rules."""

from __future__ import annotations

import socket
import struct
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from services.common.errors import Conflict, InvalidArgument
from services.netd import dnswire, etcfiles
from services.netd.dnsindex import NameIndex, dns_names
from services.netd.models import AttachedEndpoint, PortBinding, SandboxSpec
from services.netd.ports import PortBook, normalise
from services.netd.rules import Chains, PublishedPort, port_rules
from services.netd.sandboxes import mac_for

HOST_CONF = etcfiles.ResolvConf(("127.0.0.53", "10.0.0.2", "fe80::1"), ("corp.example",),
                                ("edns0",))


def test_resolv_conf_of_the_default_bridge_filters_loopback_servers() -> None:
    text = etcfiles.resolv_conf_text(HOST_CONF, dns=(), search=(), options=())
    assert "nameserver 10.0.0.2\n" in text and "127.0.0.53" not in text
    assert "fe80::1" not in text
    assert "search corp.example\n" in text and "options edns0\n" in text


def test_resolv_conf_falls_back_to_dockers_defaults() -> None:
    only_local = etcfiles.ResolvConf(("127.0.0.1",))
    text = etcfiles.resolv_conf_text(only_local, dns=(), search=(), options=())
    assert "nameserver 8.8.8.8\nnameserver 8.8.4.4\n" in text


def test_resolv_conf_of_user_networks_points_at_the_embedded_dns() -> None:
    text = etcfiles.resolv_conf_text(HOST_CONF, dns=("1.1.1.1",), search=("a.b",),
                                     options=(), resolver="172.20.0.1")
    servers = [line for line in text.splitlines() if line.startswith("nameserver")]
    assert servers == ["nameserver 172.20.0.1"]
    assert "search a.b\n" in text and "options edns0 ndots:0\n" in text
    assert "ExtServers: [1.1.1.1]" in text


def test_hosts_file_in_dockers_order() -> None:
    text = etcfiles.hosts_text(hostname="web", domainname="example.org",
                               addresses=["172.18.0.2"], extra=[("10.0.0.9", "db")],
                               links=[("172.17.0.3", "cache abc123 redis")])
    lines = text.splitlines()
    assert lines[0] == "127.0.0.1\tlocalhost"
    assert lines[1] == "::1\tlocalhost ip6-localhost ip6-loopback"
    assert lines[-3:] == ["10.0.0.9\tdb", "172.17.0.3\tcache abc123 redis",
                          "172.18.0.2\tweb.example.org web"]


def test_extra_hosts_parse_ipv6_and_host_gateway() -> None:
    assert etcfiles.parse_extra_host("gw:host-gateway", "172.17.0.1") == ("172.17.0.1", "gw")
    assert etcfiles.parse_extra_host("v6:::1", "") == ("::1", "v6")
    with pytest.raises(ValueError, match="invalid IP address"):
        etcfiles.parse_extra_host("x:not-an-ip", "")


def test_write_keeps_the_inode(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    etcfiles.write(path, "one\n")
    inode = path.stat().st_ino
    etcfiles.write(path, "two\n")
    assert path.stat().st_ino == inode and path.read_text() == "two\n"


def _query(name: str, qtype: int = dnswire.TYPE_A) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split("."))
    return struct.pack("!HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + labels + b"\0" + \
        struct.pack("!HH", qtype, 1)


def test_dns_answer_carries_a_records_for_the_question() -> None:
    query = dnswire.parse_query(_query("Web.Net"))
    assert query.name == "web.net" and query.qtype == dnswire.TYPE_A
    data = dnswire.answer(query, [IPv4Address("10.0.0.5"), IPv4Address("10.0.0.6")])
    qid, flags, qd, an, _, _ = struct.unpack_from("!HHHHHH", data)
    assert (qid, qd, an) == (0x1234, 1, 2) and flags & dnswire.FLAG_QR
    assert flags & dnswire.FLAG_RD and flags & 0xF == dnswire.NOERROR
    assert data.endswith(socket.inet_aton("10.0.0.5") + struct.pack("!HHHIH", 0xC00C, 1, 1,
                                                                    600, 4)
                         + socket.inet_aton("10.0.0.6"))
    aaaa = dnswire.answer(dnswire.parse_query(_query("web", 28)), [IPv4Address("10.0.0.5")])
    assert struct.unpack_from("!HHHHHH", aaaa)[3] == 0  # known name, no IPv6: empty


def test_dns_refuses_malformed_queries() -> None:
    with pytest.raises(dnswire.MalformedQuery):
        dnswire.parse_query(b"\x00\x01")
    with pytest.raises(dnswire.MalformedQuery):
        dnswire.parse_query(_query("a")[:-3])


def _endpoint(network: str, name: str, ip: str, names: tuple[str, ...]) -> AttachedEndpoint:
    return AttachedEndpoint(network, name, "e", ip, 24, "", "", dns_names=names)


def test_name_index_answers_only_peers_on_shared_networks() -> None:
    web = SandboxSpec("a" * 64, "web", "web")
    api = SandboxSpec("b" * 64, "api", "api", dns=("9.9.9.9",))
    lone = SandboxSpec("c" * 64, "lone", "lone")
    index = NameIndex.build([
        (web, (_endpoint("n1", "front", "10.1.0.2", ("web", "www")),)),
        (api, (_endpoint("n1", "front", "10.1.0.3", ("api",)),
               _endpoint("n2", "back", "10.2.0.3", ("api",)))),
        (lone, (_endpoint("n3", "bridge", "172.17.0.2", ()),)),
    ])
    assert index.lookup("10.1.0.3", "WWW.") == [IPv4Address("10.1.0.2")]
    assert index.lookup("10.1.0.3", "web.front") == [IPv4Address("10.1.0.2")]
    assert index.lookup("10.1.0.2", "api") == [IPv4Address("10.1.0.3")]
    assert index.lookup("10.1.0.2", "api.back") is None  # web is not on "back"
    assert index.lookup("172.17.0.2", "web") is None  # the default bridge resolves nothing
    assert index.upstreams["10.2.0.3"] == ("9.9.9.9",)


def test_dns_names_follow_docker() -> None:
    spec = SandboxSpec("0123456789ab" + "0" * 52, "web", "0123456789ab")
    assert dns_names(spec, ("www",), "front") == ("web", "www", "0123456789ab")
    assert dns_names(SandboxSpec("f" * 64, "web", "box"), (), "front")[-1] == "box"
    assert dns_names(spec, (), "bridge") == ()


def test_generated_mac_is_dockers() -> None:
    assert mac_for("172.17.0.2") == "02:42:ac:11:00:02"


def test_port_bindings_are_checked() -> None:
    assert normalise(PortBinding(80)) == PortBinding(80, "tcp", "0.0.0.0", 0, 0)
    for bad, message in ((PortBinding(0), "invalid containerPort"),
                         (PortBinding(80, "icmp"), "invalid proto"),
                         (PortBinding(80, host_ip="::1"), "IPv4 only"),
                         (PortBinding(80, host_ip="nope"), "invalid host IP"),
                         (PortBinding(80, host_port=90, host_port_end=85), "invalid hostPort")):
        with pytest.raises(InvalidArgument, match=message):
            normalise(bad)


def test_port_book_refuses_a_port_it_holds_and_frees_it() -> None:
    book = PortBook()
    made = book.hold("one", normalise(PortBinding(80, host_ip="127.0.0.1")))
    assert 32768 <= made.host_port <= 60999
    try:
        with pytest.raises(Conflict, match=f"127.0.0.1:{made.host_port} failed: port is "
                                           "already allocated"):
            book.hold("two", normalise(PortBinding(81, host_ip="127.0.0.1",
                                                   host_port=made.host_port)))
        with socket.socket() as other, pytest.raises(OSError):
            other.bind(("127.0.0.1", made.host_port))
    finally:
        book.release("one")
    with socket.socket() as other:
        other.bind(("127.0.0.1", made.host_port))


def test_port_rules_dnat_and_accept_through_isolation() -> None:
    rules = port_rules(Chains("DY", "c1"), "f" * 64, PublishedPort(
        "tcp", "127.0.0.1", 8080, "10.1.0.2", 80, "br-x"))
    rendered = [f"{r.table} {r.chain} {' '.join(r.args)}" for r in rules]
    assert rendered[0] == ("nat DY-DNAT -d 127.0.0.1/32 -p tcp -m tcp --dport 8080 -m comment "
                           "--comment ctr:ffffffffffff:c1 -j DNAT --to-destination 10.1.0.2:80")
    assert all(r.startswith("filter DY-PORTS") and r.endswith("-j ACCEPT")
               for r in rendered[1:])
