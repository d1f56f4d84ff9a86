"""How container records are stored: every field, nested values as JSON, read back equal."""

from __future__ import annotations

import json

from gateway.containers.records import ContainerRecord, decode_record, encode_record


def full_record() -> ContainerRecord:
    return ContainerRecord(
        id="c" * 64, name="/web", created="2024-01-01T00:00:00.123456789Z",
        path="sh", args=("-c", "echo hi"),
        config={"Image": "busybox", "Env": ["A=1"], "Labels": {"tier": "web"},
                "ExposedPorts": {"80/tcp": {}}, "Healthcheck": {"Test": ["CMD", "true"]}},
        host_config={"NetworkMode": "bridge", "PortBindings": {"80/tcp": [{"HostPort": "8080"}]},
                     "Binds": ["/src:/dst:ro"],
                     "Ulimits": [{"Name": "nofile", "Soft": 1, "Hard": 2}]},
        networking_config={"bridge": {"Aliases": ["web"]}},
        image_id="sha256:" + "a" * 64, image_name="busybox", rootfs="/var/lib/x/merged",
        graph_driver_data={"MergedDir": "/var/lib/x/merged"},
        log_path="/var/lib/x/log.json", resolv_conf_path="/r", hostname_path="/h", hosts_path="/hs",
        network_settings={"Networks": {"bridge": {"IPAddress": "172.17.0.2", "Aliases": None}},
                          "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}},
        mounts=({"Type": "volume", "Name": "data", "Destination": "/data", "RW": True},),
        has_been_started=True,
    )


def test_a_record_reads_back_equal() -> None:
    record = full_record()
    assert decode_record(encode_record(record)) == record


def test_every_field_is_stored_with_its_nested_values_as_json() -> None:
    record = full_record()
    stored = json.loads(encode_record(record))
    assert stored["v"] == 1
    assert stored["args"] == ["-c", "echo hi"]
    assert stored["config"]["Labels"] == {"tier": "web"}
    assert stored["host_config"]["Ulimits"] == [{"Name": "nofile", "Soft": 1, "Hard": 2}]
    assert stored["network_settings"]["Networks"]["bridge"]["IPAddress"] == "172.17.0.2"
    assert stored["mounts"] == [{"Type": "volume", "Name": "data", "Destination": "/data",
                                 "RW": True}]
    assert stored["has_been_started"] is True
    assert set(stored) - {"v"} == set(ContainerRecord.__dataclass_fields__)


def test_equal_records_are_equal_bytes() -> None:
    # Keys sorted: a record rewritten unchanged is the same value in etcd.
    first = full_record()
    reordered = ContainerRecord(**{**first.__dict__,
                                   "config": dict(reversed(list(first.config.items())))})
    assert encode_record(first) == encode_record(reordered)
