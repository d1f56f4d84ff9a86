"""Docker seccomp profiles converted to linux.seccomp as dockerd's setupSeccomp does."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from services.common.errors import InvalidArgument
from services.execd.spec import build_spec, seccomp
from tests.unit.execd_spec_helpers import DEFAULT_CAPS, V1_HOST, make_inputs, make_rootfs

PROFILE = seccomp.default_profile()
# The default profile's first rule: the syscalls every container may make.
BASE_NAMES = len(PROFILE["syscalls"][0]["names"])


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    return make_rootfs(tmp_path / "rootfs")


def names(oci: dict[str, Any]) -> list[str]:
    return [name for rule in oci["syscalls"] for name in rule["names"]]


def test_shipped_profile_is_mobys() -> None:
    shared = Path("/work/shared/docker-api/seccomp-default.json")
    if shared.exists():
        assert json.loads(shared.read_text()) == PROFILE
    assert PROFILE["defaultAction"] == "SCMP_ACT_ERRNO"
    assert (Path(seccomp.__file__).parent / "NOTICE").read_text().count("Apache") == 1


def test_default_profile_on_x86_64_with_default_caps() -> None:
    oci = seccomp.to_oci(PROFILE, "amd64", DEFAULT_CAPS, (6, 1))
    assert oci is not None
    assert oci["defaultAction"] == "SCMP_ACT_ERRNO"
    assert oci["defaultErrnoRet"] == 1
    assert oci["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert "archMap" not in oci
    # base + process_vm_*/ptrace (kernel ≥ 4.8) + 3 socket + 5 personality rules
    # + arch_prctl + modify_ldt + clone (flags-restricted) + clone3 (ENOSYS)
    # + chroot (CAP_SYS_CHROOT): 15 rules.
    assert len(oci["syscalls"]) == 15
    assert len(names(oci)) == BASE_NAMES + 3 + 3 + 5 + 1 + 1 + 1 + 1 + 1 == 377
    assert {"arch_prctl", "modify_ldt", "chroot", "ptrace"} <= set(names(oci))
    assert not {"mount", "umount2", "unshare", "setns", "reboot", "bpf", "sync_file_range2",
                "s390_runtime_instr", "open_by_handle_at", "kcmp"} & set(names(oci))
    clone3 = next(rule for rule in oci["syscalls"] if rule["names"] == ["clone3"])
    assert clone3 == {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
    clone = next(rule for rule in oci["syscalls"] if rule["names"] == ["clone"])
    assert clone["args"] == [{"index": 0, "value": 2114060288, "op": "SCMP_CMP_MASKED_EQ"}]
    for rule in oci["syscalls"]:
        assert set(rule) <= {"names", "action", "errnoRet", "args"}


def test_cap_sys_admin_adds_the_mount_family_and_unrestricts_clone() -> None:
    oci = seccomp.to_oci(PROFILE, "amd64", [*DEFAULT_CAPS, "CAP_SYS_ADMIN"], (6, 1))
    assert oci is not None
    got = names(oci)
    assert {"mount", "umount2", "unshare", "setns", "clone3", "fsmount"} <= set(got)
    # The flags-restricted clone and the ENOSYS clone3 are gone: plain allows instead.
    assert all("args" not in rule for rule in oci["syscalls"] if "clone" in rule["names"])
    assert all(rule["action"] == "SCMP_ACT_ALLOW" for rule in oci["syscalls"])
    assert len(oci["syscalls"]) == 14 and len(got) == 377 + 26 - 2


def test_dropping_sys_chroot_removes_chroot() -> None:
    caps = [c for c in DEFAULT_CAPS if c != "CAP_SYS_CHROOT"]
    oci = seccomp.to_oci(PROFILE, "amd64", caps, (6, 1))
    assert oci is not None and "chroot" not in names(oci)


def test_arm64_host() -> None:
    oci = seccomp.to_oci(PROFILE, "arm64", DEFAULT_CAPS, (6, 1))
    assert oci is not None
    assert oci["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    got = set(names(oci))
    assert {"arm_fadvise64_64", "sync_file_range2"} <= got
    assert not {"arch_prctl", "modify_ldt"} & got


def test_min_kernel() -> None:
    old = seccomp.to_oci(PROFILE, "amd64", DEFAULT_CAPS, (4, 7))
    assert old is not None and "ptrace" not in names(old)
    profile = {"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [
        {"names": ["a"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "5.10"}},
        {"names": ["b"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "5.10"}},
    ]}
    assert names(seccomp.to_oci(profile, "amd64", [], (5, 4)) or {}) == ["a"]
    assert names(seccomp.to_oci(profile, "amd64", [], (5, 10)) or {}) == ["b"]


def test_custom_profile_forms() -> None:
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"name": "chmod", "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"names": ["mmap"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 2, "value": 4, "valueTwo": 4, "op": "SCMP_CMP_MASKED_EQ"}]},
            {"names": ["x"], "action": "SCMP_ACT_ALLOW",
             "includes": {"caps": ["CAP_SYS_ADMIN", "CAP_CHOWN"]}},
            {"names": ["y"], "action": "SCMP_ACT_ALLOW", "excludes": {"arches": ["amd64"]}},
        ],
    }
    oci = seccomp.to_oci(profile, "amd64", ["CAP_CHOWN"], (6, 1))
    assert oci == {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"names": ["mmap"], "action": "SCMP_ACT_ERRNO",
             "args": [{"index": 2, "value": 4, "valueTwo": 4, "op": "SCMP_CMP_MASKED_EQ"}]},
        ],
    }


@pytest.mark.parametrize(("profile", "message"), [
    ({"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86_64"],
      "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]},
     "both 'architectures' and 'archMap' are specified"),
    ({"defaultAction": "SCMP_ACT_ERRNO",
      "syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ALLOW"}]},
     "both 'name' and 'names' were specified"),
])
def test_inconsistent_profiles(profile: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        seccomp.to_oci(profile, "amd64", [], (6, 1))


def test_empty_profile_means_no_filter() -> None:
    assert seccomp.to_oci({}, "amd64", [], (6, 1)) is None


# --- through build_spec ------------------------------------------------------------


def test_spec_has_default_seccomp(rootfs: Path) -> None:
    spec = build_spec(make_inputs(rootfs))
    assert spec["linux"]["seccomp"] == seccomp.to_oci(PROFILE, "amd64", DEFAULT_CAPS, (6, 1))
    builtin = build_spec(make_inputs(rootfs, host_config={"SecurityOpt": ["seccomp=builtin"]}))
    assert builtin["linux"]["seccomp"] == spec["linux"]["seccomp"]


def test_spec_seccomp_follows_cap_add(rootfs: Path) -> None:
    spec = build_spec(make_inputs(rootfs, host_config={"CapAdd": ["SYS_ADMIN"]}))
    assert "mount" in names(spec["linux"]["seccomp"])


def test_spec_seccomp_host_arch_and_kernel(rootfs: Path) -> None:
    host = replace(V1_HOST, arch="arm64", kernel=(4, 4))
    spec = build_spec(make_inputs(rootfs, host=host))
    assert spec["linux"]["seccomp"]["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert "ptrace" not in names(spec["linux"]["seccomp"])


@pytest.mark.parametrize("opt", ["seccomp=unconfined", "seccomp:unconfined"])
def test_unconfined(rootfs: Path, opt: str) -> None:
    assert "seccomp" not in build_spec(make_inputs(rootfs, host_config={"SecurityOpt": [opt]}))[
        "linux"]


def test_profile_contents_from_the_cli(rootfs: Path) -> None:
    text = json.dumps({"defaultAction": "SCMP_ACT_ALLOW",
                       "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]})
    spec = build_spec(make_inputs(rootfs, host_config={"SecurityOpt": [f"seccomp={text}"]}))
    assert spec["linux"]["seccomp"] == {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}
    # Privileged containers run unfiltered whatever the profile.
    privileged = build_spec(make_inputs(rootfs, host_config={
        "Privileged": True, "SecurityOpt": [f"seccomp={text}"]}))
    assert "seccomp" not in privileged["linux"]


def test_bad_profile_contents(rootfs: Path) -> None:
    with pytest.raises(InvalidArgument, match=r"^Decoding seccomp profile failed: "):
        build_spec(make_inputs(rootfs, host_config={"SecurityOpt": ["seccomp={not json"]}))


def test_daemon_profile(rootfs: Path) -> None:
    none = build_spec(make_inputs(rootfs, daemon_seccomp_profile="unconfined"))
    assert "seccomp" not in none["linux"]
    text = json.dumps({"defaultAction": "SCMP_ACT_LOG"})
    custom = build_spec(make_inputs(rootfs, daemon_seccomp_profile=text))
    assert custom["linux"]["seccomp"] == {"defaultAction": "SCMP_ACT_LOG"}
    # The container's own choice wins over the daemon's.
    builtin = build_spec(make_inputs(rootfs, daemon_seccomp_profile="unconfined",
                                     host_config={"SecurityOpt": ["seccomp=builtin"]}))
    assert builtin["linux"]["seccomp"]["defaultAction"] == "SCMP_ACT_ERRNO"
