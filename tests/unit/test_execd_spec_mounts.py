"""mounts, root and namespaces of the spec, against dockerd's WithMounts/WithNamespaces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from services.common.errors import InvalidArgument
from services.execd.spec import MountPoint, build_spec
from services.execd.spec.mounts import merge_tmpfs_options, tmpfs_options_from_api
from tests.unit.execd_spec_helpers import (
    V2_HOST,
    make_inputs,
    make_rootfs,
    mount_at,
    namespace_types,
)

# A host whose / is private, /srv shared, /mnt/slave a slave; a space in a mountpoint.
MOUNTINFO = (
    "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
    "40 27 254:1 / /srv rw,relatime shared:5 - ext4 /dev/vdb rw\n"
    "41 27 254:2 / /mnt/slave rw,relatime master:7 - ext4 /dev/vdc rw\n"
    "42 27 254:3 / /mnt/with\\040space rw,relatime shared:9 - ext4 /dev/vdd rw\n"
)

DEFAULT_DESTINATIONS = [
    "/proc", "/dev", "/dev/pts", "/sys", "/sys/fs/cgroup", "/dev/mqueue", "/dev/shm",
]


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    return make_rootfs(tmp_path / "rootfs")


def destinations(spec: dict[str, Any]) -> list[str]:
    return [m["destination"] for m in spec["mounts"]]


def test_default_mounts_exactly_as_dockerd(rootfs: Path) -> None:
    spec = build_spec(make_inputs(rootfs))
    assert spec["mounts"] == [
        {"destination": "/proc", "type": "proc", "source": "proc",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
        {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
         "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
         "options": ["ro", "nosuid", "noexec", "nodev"]},
        {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
         "options": ["nosuid", "noexec", "nodev"]},
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=67108864"]},
    ]
    assert spec["root"] == {"path": str(rootfs), "readonly": False}
    assert spec["ociVersion"] == "1.0.2-dev"


def test_shm_size(rootfs: Path) -> None:
    spec = build_spec(make_inputs(rootfs, host_config={"ShmSize": 128 * 1024 * 1024}))
    assert mount_at(spec, "/dev/shm")["options"][-1] == "size=134217728"


def test_network_files_and_user_mounts_sorted_by_depth(rootfs: Path) -> None:
    spec = build_spec(make_inputs(
        rootfs,
        mounts=(
            MountPoint("/data/deep/er", "/srv/vol2", "volume"),
            MountPoint("/data", "/srv/bind", "bind", read_only=True, propagation="rprivate"),
            MountPoint("/cache", "", "tmpfs", tmpfs_options=("size=1m",)),
        ),
        host_config={"Tmpfs": {"/run": "rw,size=65536k", "/var/tmp/x": ""}},
        resolv_conf_path="/ex/resolv.conf",
        hostname_path="/ex/hostname",
        hosts_path="/ex/hosts",
    ))
    user = spec["mounts"][len(DEFAULT_DESTINATIONS):]
    assert user == [
        {"destination": "/data", "type": "bind", "source": "/srv/bind",
         "options": ["rbind", "ro", "rprivate"]},
        {"destination": "/cache", "type": "tmpfs", "source": "tmpfs",
         "options": ["noexec", "nosuid", "nodev", "rprivate", "size=1m"]},
        {"destination": "/run", "type": "tmpfs", "source": "tmpfs",
         "options": ["noexec", "nosuid", "nodev", "rprivate", "rw", "size=65536k"]},
        {"destination": "/etc/resolv.conf", "type": "bind", "source": "/ex/resolv.conf",
         "options": ["rbind", "rprivate"]},
        {"destination": "/etc/hostname", "type": "bind", "source": "/ex/hostname",
         "options": ["rbind", "rprivate"]},
        {"destination": "/etc/hosts", "type": "bind", "source": "/ex/hosts",
         "options": ["rbind", "rprivate"]},
        {"destination": "/data/deep/er", "type": "bind", "source": "/srv/vol2",
         "options": ["rbind"]},
        {"destination": "/var/tmp/x", "type": "tmpfs", "source": "tmpfs",
         "options": ["noexec", "nosuid", "nodev", "rprivate"]},
    ]


def test_a_users_file_replaces_netds(rootfs: Path) -> None:
    spec = build_spec(make_inputs(
        rootfs, mounts=(MountPoint("/etc/hosts", "/mine/hosts", "bind", read_only=True),),
        hosts_path="/ex/hosts"))
    assert mount_at(spec, "/etc/hosts") == {
        "destination": "/etc/hosts", "type": "bind", "source": "/mine/hosts",
        "options": ["rbind", "ro", "rprivate"]}


def test_mounts_over_defaults_replace_them(rootfs: Path) -> None:
    spec = build_spec(make_inputs(rootfs, mounts=(
        MountPoint("/dev/shm", "/host/shm", "bind"),
        MountPoint("/sys/fs/cgroup", "/host/cg", "bind", read_only=True),
    )))
    assert mount_at(spec, "/dev/shm")["source"] == "/host/shm"
    assert mount_at(spec, "/sys/fs/cgroup")["type"] == "bind"


def test_a_dev_mount_replaces_everything_under_dev(rootfs: Path) -> None:
    spec = build_spec(make_inputs(rootfs, mounts=(MountPoint("/dev", "/host/dev", "bind"),)))
    assert destinations(spec) == ["/proc", "/sys", "/sys/fs/cgroup", "/dev"]


def test_readonly_rootfs(rootfs: Path) -> None:
    spec = build_spec(make_inputs(
        rootfs, host_config={"ReadonlyRootfs": True, "Tmpfs": {"/run": ""}},
        hosts_path="/ex/hosts", mounts=(MountPoint("/data", "/srv", "volume"),)))
    assert spec["root"]["readonly"] is True
    # netd's files follow the rootfs; volumes, tmpfs and the /dev mounts stay writable.
    assert mount_at(spec, "/etc/hosts")["options"] == ["rbind", "ro", "rprivate"]
    assert mount_at(spec, "/data")["options"] == ["rbind"]
    assert "ro" not in mount_at(spec, "/run")["options"]
    for destination in ("/proc", "/dev", "/dev/pts", "/dev/mqueue", "/dev/shm"):
        assert "ro" not in mount_at(spec, destination)["options"]


@pytest.mark.parametrize(("propagation", "rootfs_propagation"), [
    ("rshared", "shared"), ("shared", "shared"), ("rslave", "rslave"), ("slave", "rslave"),
    ("rprivate", None),
])
def test_bind_propagation_sets_rootfs_propagation(
    rootfs: Path, propagation: str, rootfs_propagation: str | None
) -> None:
    spec = build_spec(make_inputs(rootfs, host_mountinfo=MOUNTINFO, mounts=(
        MountPoint("/m", "/srv/data", "bind", propagation=propagation),)))
    assert mount_at(spec, "/m")["options"] == ["rbind", propagation]
    assert spec["linux"].get("rootfsPropagation") == rootfs_propagation


@pytest.mark.parametrize(("source", "propagation", "message"), [
    ("/home/x", "rshared", "path /home/x is mounted on / but it is not a shared mount"),
    ("/mnt/slave/x", "shared",
     "path /mnt/slave/x is mounted on /mnt/slave but it is not a shared mount"),
    ("/home/x", "rslave",
     "path /home/x is mounted on / but it is not a shared or slave mount"),
])
def test_propagation_the_host_mount_cannot_carry(
    rootfs: Path, source: str, propagation: str, message: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        build_spec(make_inputs(rootfs, host_mountinfo=MOUNTINFO, mounts=(
            MountPoint("/m", source, "bind", propagation=propagation),)))
    assert caught.value.message == message


@pytest.mark.parametrize("source", ["/mnt/slave/x", "/srv", "/mnt/with space/d"])
def test_propagation_the_host_mount_can_carry(rootfs: Path, source: str) -> None:
    propagation = "rslave" if "slave" in source else "rshared"
    spec = build_spec(make_inputs(rootfs, host_mountinfo=MOUNTINFO, mounts=(
        MountPoint("/m", source, "bind", propagation=propagation),)))
    assert mount_at(spec, "/m")["source"] == source


@pytest.mark.parametrize(("point", "message"), [
    (MountPoint("/", "/srv", "bind"), "destination can't be '/'"),
    (MountPoint("data", "/srv", "bind"), "mount path must be absolute: data"),
    (MountPoint("/data", "", "volume"), "the source must be an absolute host path"),
    (MountPoint("/data", "/srv", "npipe"), "invalid mount type 'npipe'"),
    (MountPoint("/data", "/srv", "bind", propagation="bogus"), "invalid propagation mode: bogus"),
])
def test_bad_mount_points(rootfs: Path, point: MountPoint, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        build_spec(make_inputs(rootfs, mounts=(point,)))


def test_negative_shm_size(rootfs: Path) -> None:
    with pytest.raises(InvalidArgument, match="SHM size can not be less than 0"):
        build_spec(make_inputs(rootfs, host_config={"ShmSize": -1}))


def test_non_recursive_bind(rootfs: Path) -> None:
    spec = build_spec(make_inputs(rootfs, mounts=(
        MountPoint("/m", "/src", "bind", non_recursive=True),)))
    assert mount_at(spec, "/m")["options"] == ["bind"]


@pytest.mark.parametrize(("options", "merged"), [
    (["noexec", "nosuid", "nodev", "rprivate", "exec"], ["nosuid", "nodev", "rprivate", "exec"]),
    (["noexec", "rprivate", "size=1m", "size=2m", "shared"], ["noexec", "size=2m", "shared"]),
    (["noexec", "defaults", "ro", "rw", "mode=1777"], ["noexec", "rw", "mode=1777"]),
])
def test_merge_tmpfs_options_last_wins(options: list[str], merged: list[str]) -> None:
    assert merge_tmpfs_options(options) == merged


def test_bad_tmpfs_option(rootfs: Path) -> None:
    with pytest.raises(InvalidArgument, match=r'invalid tmpfs option \["bogus=1"\]'):
        build_spec(make_inputs(rootfs, host_config={"Tmpfs": {"/run": "bogus=1"}}))
    with pytest.raises(InvalidArgument, match="mount path must be absolute"):
        build_spec(make_inputs(rootfs, host_config={"Tmpfs": {"run": ""}}))


def test_duplicate_mount_points(rootfs: Path) -> None:
    with pytest.raises(InvalidArgument, match="Duplicate mount point: /data"):
        build_spec(make_inputs(rootfs, mounts=(MountPoint("/data", "/a", "bind"),
                                               MountPoint("/data/", "/b", "volume"))))
    with pytest.raises(InvalidArgument, match="Duplicate mount point: /run"):
        build_spec(make_inputs(rootfs, mounts=(MountPoint("/run", "/a", "bind"),),
                               host_config={"Tmpfs": {"/run": ""}}))


def test_tmpfs_options_from_the_api() -> None:
    assert tmpfs_options_from_api({"SizeBytes": 64 << 20, "Mode": 0o1770}, True) == (
        "ro", "mode=1770", "size=64m")
    assert tmpfs_options_from_api({"SizeBytes": 1000}, False) == ("size=1000",)
    assert tmpfs_options_from_api({"SizeBytes": 3 << 30}, False) == ("size=3g",)
    assert tmpfs_options_from_api(None, False) == ()


# --- IPC and /dev/shm -----------------------------------------------------------------


def test_ipc_modes_and_shm(rootfs: Path) -> None:
    none = build_spec(make_inputs(rootfs, host_config={"IpcMode": "none"}, shm_path="/x"))
    assert "/dev/shm" not in destinations(none)
    assert "ipc" in namespace_types(none)

    host = build_spec(make_inputs(rootfs, host_config={"IpcMode": "host"}))
    assert "ipc" not in namespace_types(host)
    assert mount_at(host, "/dev/shm") == {"destination": "/dev/shm", "type": "bind",
                                          "source": "/dev/shm", "options": ["rbind", "rprivate"]}

    shareable = build_spec(make_inputs(rootfs, host_config={"IpcMode": "shareable"},
                                       shm_path="/containers/abc/shm"))
    assert mount_at(shareable, "/dev/shm")["source"] == "/containers/abc/shm"

    joined = build_spec(make_inputs(rootfs, host_config={"IpcMode": "container:db"},
                                    ipc_namespace_path="/proc/42/ns/ipc", shm_path="/c/db/shm"))
    assert {"type": "ipc", "path": "/proc/42/ns/ipc"} in joined["linux"]["namespaces"]
    assert mount_at(joined, "/dev/shm")["source"] == "/c/db/shm"


# --- namespaces -------------------------------------------------------------------------


def test_default_namespaces_v1_and_v2(rootfs: Path) -> None:
    v1 = build_spec(make_inputs(rootfs, netns_path="/run/netns/x"))
    assert v1["linux"]["namespaces"] == [
        {"type": "mount"}, {"type": "network", "path": "/run/netns/x"}, {"type": "uts"},
        {"type": "pid"}, {"type": "ipc"}]
    v2 = build_spec(make_inputs(rootfs, host=V2_HOST))
    assert namespace_types(v2) == ["mount", "network", "uts", "pid", "ipc", "cgroup"]
    # An explicit mode wins over the host's default.
    private_v1 = build_spec(make_inputs(rootfs, host_config={"CgroupnsMode": "private"}))
    assert namespace_types(private_v1)[-1] == "cgroup"
    host_v2 = build_spec(make_inputs(rootfs, host=V2_HOST, host_config={"CgroupnsMode": "host"}))
    assert "cgroup" not in namespace_types(host_v2)


def test_host_and_container_namespaces(rootfs: Path) -> None:
    spec = build_spec(make_inputs(
        rootfs, network_mode="host",
        host_config={"PidMode": "host", "UTSMode": "host", "IpcMode": "host"}))
    assert namespace_types(spec) == ["mount"]
    assert "hostname" not in spec
    joined = build_spec(make_inputs(
        rootfs, host_config={"PidMode": "container:abc", "UTSMode": "container:abc"},
        pid_namespace_path="/proc/7/ns/pid", uts_namespace_path="/proc/7/ns/uts"))
    assert {"type": "pid", "path": "/proc/7/ns/pid"} in joined["linux"]["namespaces"]
    assert {"type": "uts", "path": "/proc/7/ns/uts"} in joined["linux"]["namespaces"]


@pytest.mark.parametrize(("host_config", "message"), [
    ({"PidMode": "private"}, "invalid PID mode: private"),
    ({"PidMode": "container:"}, "invalid PID mode: container:"),
    ({"IpcMode": "weird"}, "invalid IPC mode: weird"),
    ({"UTSMode": "private"}, "invalid UTS mode: private"),
    ({"CgroupnsMode": "shared"}, "invalid cgroup namespace mode: shared"),
    ({"PidMode": "container:gone"}, "pid namespace of container:gone is not known"),
])
def test_bad_namespace_modes(rootfs: Path, host_config: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        build_spec(make_inputs(rootfs, host_config=host_config))


# --- masked and read-only paths, cgroups path ----------------------------------------


def test_masked_and_readonly_paths(rootfs: Path) -> None:
    spec = build_spec(make_inputs(rootfs))
    assert spec["linux"]["maskedPaths"] == [
        "/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
        "/sys/firmware", "/sys/devices/virtual/powercap"]
    assert spec["linux"]["readonlyPaths"] == [
        "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
    # --security-opt systempaths=unconfined: the CLI sends empty lists.
    unconfined = build_spec(make_inputs(rootfs, host_config={"MaskedPaths": [],
                                                             "ReadonlyPaths": []}))
    assert unconfined["linux"]["maskedPaths"] == []
    assert unconfined["linux"]["readonlyPaths"] == []
    custom = build_spec(make_inputs(rootfs, host_config={"MaskedPaths": ["/proc/x"]}))
    assert custom["linux"]["maskedPaths"] == ["/proc/x"]


def test_cgroups_path_only_when_given(rootfs: Path) -> None:
    assert "cgroupsPath" not in build_spec(make_inputs(rootfs))["linux"]
    spec = build_spec(make_inputs(rootfs, cgroups_path="/dockyard/abc"))
    assert spec["linux"]["cgroupsPath"] == "/dockyard/abc"
    assert "memory" not in spec["linux"]["resources"]
