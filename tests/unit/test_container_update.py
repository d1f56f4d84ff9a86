"""``docker update`` logic: dockerd's checks, merge rules and refusals, and the undo."""

from __future__ import annotations

import json
from typing import Any

import pytest

from gateway.containers.records import ContainerRecord, encode_record
from gateway.containers.store import ContainerStore
from gateway.containers.update import ContainerUpdater, decode_update, merge_host_config
from gateway.containers.validation import HostLimits
from services.cgroupd.resources import Resources
from services.common.errors import Conflict, DockyardError, InvalidArgument, NotFound
from services.common.etcd_store import Put
from services.execd.models import CREATED, RUNNING, RuntimeState, encode_state, runtime_key
from tests.unit.gateway_fakes import FakeCgroups, FakeStore, fake_backends, make_app, serving

CID = "ab" * 32
MiB = 1024 * 1024
LIMITS = HostLimits(ncpu=4)


def refused(call: Any, kind: type[DockyardError]) -> str:
    with pytest.raises(kind) as info:
        call()
    return info.value.message


# ---- dockerd's checks of the body (400) ----------------------------------------------


def test_body_checks_use_dockerds_words() -> None:
    assert refused(lambda: decode_update({"Memory": 1 * MiB}, LIMITS),
                   InvalidArgument) == "Minimum memory limit allowed is 6MB"
    assert refused(lambda: decode_update({"Memory": 64 * MiB, "MemorySwap": 32 * MiB}, LIMITS),
                   InvalidArgument) == ("Minimum memoryswap limit should be larger than "
                                        "memory limit, see usage")
    assert refused(lambda: decode_update({"NanoCpus": 9_000_000_000}, LIMITS),
                   InvalidArgument) == ("Range of CPUs is from 0.01 to 4.00, as there are "
                                        "only 4 CPUs available")
    assert refused(lambda: decode_update({"RestartPolicy": {"Name": "sometimes"}}, LIMITS),
                   InvalidArgument) == "invalid restart policy 'sometimes'"
    assert refused(lambda: decode_update({"RestartPolicy": {"Name": "always",
                                                            "MaximumRetryCount": 3}}, LIMITS),
                   InvalidArgument) == ("maximum retry count cannot be used with restart "
                                        "policy 'always'")
    assert "cannot unmarshal str" in refused(lambda: decode_update({"Memory": "1g"}, LIMITS),
                                             InvalidArgument)
    refused(lambda: decode_update([1], LIMITS), InvalidArgument)


def test_swap_alone_is_allowed_in_an_update() -> None:
    # At create dockerd wants Memory with MemorySwap; an update keeps the memory set.
    assert decode_update({"MemorySwap": 128 * MiB}, LIMITS) == {"MemorySwap": 128 * MiB}


# ---- merging into HostConfig (dockerd's UpdateContainer) --------------------------------

CURRENT = {"Memory": 32 * MiB, "MemorySwap": 64 * MiB, "NanoCpus": 500_000_000,
           "CpuShares": 0, "PidsLimit": 10, "RestartPolicy": {"Name": "no",
                                                               "MaximumRetryCount": 0}}


def test_zero_keeps_and_values_replace() -> None:
    merged = merge_host_config(CID, CURRENT, {"Memory": 0, "CpuShares": 512, "CpusetCpus": "",
                                              "PidsLimit": None})
    assert merged["Memory"] == 32 * MiB and merged["CpuShares"] == 512
    assert merged["PidsLimit"] == 10
    merged = merge_host_config(CID, CURRENT, {"Memory": 48 * MiB, "PidsLimit": -1,
                                              "RestartPolicy": {"Name": "on-failure",
                                                                "MaximumRetryCount": 2}})
    assert merged["Memory"] == 48 * MiB and merged["MemorySwap"] == 64 * MiB
    assert merged["PidsLimit"] is None  # unlimited
    assert merged["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}


def test_merge_refusals_are_conflicts_naming_the_container() -> None:
    message = refused(lambda: merge_host_config(CID, CURRENT, {"Memory": 128 * MiB}), Conflict)
    assert message == (f"Cannot update container {CID}: Memory limit should be smaller than "
                       "already set memoryswap limit, update the memoryswap at the same time")
    # As dockerd: no swap limit set (0) refuses a memory limit given alone too.
    refused(lambda: merge_host_config(CID, {"Memory": 0, "MemorySwap": 0},
                                      {"Memory": 64 * MiB}), Conflict)
    assert merge_host_config(CID, {"Memory": 0, "MemorySwap": 0},
                             {"Memory": 64 * MiB, "MemorySwap": -1})["MemorySwap"] == -1
    assert refused(lambda: merge_host_config(CID, CURRENT, {"CpuPeriod": 50_000}),
                   Conflict).endswith("CPU Period cannot be updated as NanoCPUs has "
                                      "already been set")
    assert refused(lambda: merge_host_config(CID, {"CpuQuota": 50_000}, {"NanoCpus": 10**9}),
                   Conflict).endswith("Nano CPUs cannot be updated as CPU Quota has already "
                                      "been set")
    assert refused(lambda: merge_host_config(CID, {"AutoRemove": True},
                                             {"RestartPolicy": {"Name": "always"}}),
                   Conflict).endswith("Restart policy cannot be updated because AutoRemove "
                                      "is enabled for the container")
    assert refused(lambda: merge_host_config(CID, CURRENT, {"MemorySwap": 16 * MiB}),
                   InvalidArgument).endswith("Minimum memoryswap limit should be larger than "
                                             "memory limit, see usage")


# ---- the update across record, cgroupd and execd ----------------------------------------


class PolicyKeeper:
    """execd's saved start spec: the policies it was given."""

    def __init__(self, known: bool) -> None:
        self.known = known
        self.policies: list[tuple[str, int]] = []

    async def update_restart_policy(self, container_id: str, name: str,
                                    maximum_retry_count: int = 0) -> None:
        if not self.known:
            raise NotFound(f"No such container: {container_id}")
        self.policies.append((name, maximum_retry_count))


async def setup(status: str) -> tuple[ContainerUpdater, ContainerStore, FakeCgroups,
                                      PolicyKeeper]:
    store = FakeStore()
    record = ContainerRecord(id=CID, name="/web", created="2024-01-01T00:00:00Z", path="sh",
                             args=(), config={}, host_config=dict(CURRENT),
                             networking_config={}, image_id="sha256:" + "cd" * 32,
                             image_name="busybox")
    await store.commit([], [Put(record.key, encode_record(record)),
                            Put(runtime_key(CID), encode_state(RuntimeState(
                                container_id=CID, status=status)))])
    cgroups = FakeCgroups()
    if status == RUNNING:
        cgroups.resources[CID] = Resources(memory=32 * MiB, memory_swap=64 * MiB,
                                           nano_cpus=500_000_000, pids_limit=10)
    keeper = PolicyKeeper(known=status == RUNNING)
    records = ContainerStore(store)
    return ContainerUpdater(records, store, cgroups, keeper), records, cgroups, keeper


async def test_running_container_gets_limits_live_and_policy_in_execd() -> None:
    updater, records, cgroups, keeper = await setup(RUNNING)
    result = await updater.update(await records.get(CID), {
        "Memory": 64 * MiB, "MemorySwap": 128 * MiB, "PidsLimit": 0,
        "RestartPolicy": {"Name": "always"}})
    assert result.warnings == ()
    live = cgroups.resources[CID]
    assert (live.memory, live.memory_swap, live.pids_limit) == (64 * MiB, 128 * MiB, -1)
    assert live.nano_cpus == 500_000_000
    stored = (await records.get(CID)).host_config
    assert stored["Memory"] == 64 * MiB and stored["PidsLimit"] is None
    assert keeper.policies == [("always", 0)]


async def test_kernel_refusal_leaves_record_and_policy_as_they_were() -> None:
    updater, records, cgroups, keeper = await setup(RUNNING)
    cgroups.refusal = Conflict("unable to set memory limit to 16777216 (current usage: "
                               "42549248, peak usage: 43831296)")
    with pytest.raises(Conflict) as info:
        await updater.update(await records.get(CID), {
            "Memory": 16 * MiB, "MemorySwap": 16 * MiB, "RestartPolicy": {"Name": "always"}})
    assert info.value.message.startswith(f"Cannot update container {CID}: unable to set "
                                         "memory limit to 16777216")
    assert (await records.get(CID)).host_config == CURRENT
    assert keeper.policies == [("always", 0), ("no", 0)]
    assert cgroups.resources[CID].memory == 32 * MiB


async def test_stopped_container_changes_only_its_record() -> None:
    updater, records, cgroups, keeper = await setup(CREATED)
    await updater.update(await records.get(CID), {"CpuShares": 256,
                                                  "RestartPolicy": {"Name": "unless-stopped"}})
    stored = (await records.get(CID)).host_config
    assert stored["CpuShares"] == 256
    assert stored["RestartPolicy"] == {"Name": "unless-stopped", "MaximumRetryCount": 0}
    assert CID not in cgroups.resources and keeper.policies == []


# ---- over HTTP ----------------------------------------------------------------------------


async def test_bad_bodies_are_400_before_anything_else() -> None:
    async with serving(make_app(fake_backends())) as client:
        bad = await client.post("/containers/web/update", data=b"{nope")
        assert bad.status == 400 and "invalid JSON" in (await bad.json())["message"]
        small = await client.post("/containers/web/update",
                                  data=json.dumps({"Memory": 1024}))
        assert small.status == 400
        assert (await small.json()) == {"message": "Minimum memory limit allowed is 6MB"}

