"""``POST /containers/{id}/update``: new limits and restart policy, applied live.

As dockerd: the body is checked first (400 with its wording), then merged into
the container's HostConfig where a zero means "keep" (409 for the conflicts
dockerd refuses), then recorded; a container that holds a cgroup gets the new
limits at once from cgroupd, and execd's saved start spec gets the new restart
policy. When a later step fails the record (and the policy) are put back, so a
refused update changes nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from gateway.containers.lifecycle import StateReader, read_state
from gateway.containers.records import ContainerRecord
from gateway.containers.resources import resources_from_host_config
from gateway.containers.store import ContainerStore
from gateway.containers.validation import HostLimits, validate_update
from services.cgroupd.manager import CgroupState
from services.cgroupd.resources import Resources
from services.common.errors import Conflict, DockyardError, InvalidArgument, NotFound
from services.execd.models import CREATED, EXITED

KEPT_WHEN_ZERO = ("BlkioWeight", "CpuShares", "NanoCpus", "CpuPeriod", "CpuQuota",
                  "MemorySwap", "MemoryReservation")
"""Numeric limits a zero leaves as they are (Memory has its own rule, below)."""
KEPT_WHEN_EMPTY = ("CpusetCpus", "CpusetMems")


class CgroupUpdater(Protocol):
    async def update_resources(self, container_id: str, change: Resources) -> CgroupState: ...


class RestartPolicyKeeper(Protocol):
    async def update_restart_policy(
        self, container_id: str, name: str, maximum_retry_count: int = 0
    ) -> None: ...


@dataclass(frozen=True)
class UpdateResult:
    record: ContainerRecord
    warnings: tuple[str, ...] = ()


def decode_update(body: object, limits: HostLimits) -> dict[str, Any]:
    """The request body, checked as dockerd's verifyContainerSettings(update=true) does."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise InvalidArgument("invalid JSON: the update body must be an object")
    validate_update(body, limits)
    for key in ("CpuRealtimePeriod", "CpuRealtimeRuntime"):
        if body.get(key):
            raise InvalidArgument(
                f"{key} (--cpu-rt-period/--cpu-rt-runtime) is not supported by this engine")
    return body


def cannot_update(container_id: str, error: DockyardError) -> DockyardError:
    """dockerd's ``Cannot update container <id>: ...``, keeping the error's kind."""
    return type(error)(f"Cannot update container {container_id}: {error.message}")


def merge_host_config(
    container_id: str, current: Mapping[str, Any], update: Mapping[str, Any]
) -> dict[str, Any]:
    """dockerd's Container.UpdateContainer: ``update`` over ``current``, or a Conflict."""
    def conflict(message: str) -> DockyardError:
        return cannot_update(container_id, Conflict(message))

    def given(key: str) -> int:
        value = update.get(key)
        return value if isinstance(value, int) else 0

    def had(key: str) -> int:
        value = current.get(key)
        return value if isinstance(value, int) else 0

    # NanoCpus and an explicit period/quota exclude each other once one is set.
    if given("NanoCpus") > 0 and had("CpuPeriod") > 0:
        raise conflict("Conflicting options: Nano CPUs cannot be updated as CPU Period has "
                       "already been set")
    if given("NanoCpus") > 0 and had("CpuQuota") > 0:
        raise conflict("Conflicting options: Nano CPUs cannot be updated as CPU Quota has "
                       "already been set")
    if given("CpuPeriod") > 0 and had("NanoCpus") > 0:
        raise conflict("Conflicting options: CPU Period cannot be updated as NanoCPUs has "
                       "already been set")
    if given("CpuQuota") > 0 and had("NanoCpus") > 0:
        raise conflict("Conflicting options: CPU Quota cannot be updated as NanoCPUs has "
                       "already been set")
    merged = dict(current)
    for key in KEPT_WHEN_ZERO:
        if given(key):
            merged[key] = given(key)
    for key in KEPT_WHEN_EMPTY:
        if update.get(key):
            merged[key] = update[key]
    if given("Memory"):
        # dockerd compares with the swap limit as stored, unlimited (-1) and
        # unset (0) included: a new memory limit needs a new swap limit then.
        if given("Memory") > had("MemorySwap") and not given("MemorySwap"):
            raise conflict("Memory limit should be smaller than already set memoryswap limit, "
                           "update the memoryswap at the same time")
        merged["Memory"] = given("Memory")
    if update.get("PidsLimit") is not None:
        # 0 and negative values mean "unlimited", stored as null (as at create).
        merged["PidsLimit"] = given("PidsLimit") if given("PidsLimit") > 0 else None
    _check_merged_memory(container_id, merged)
    policy = update.get("RestartPolicy") or {}
    if policy.get("Name"):
        if current.get("AutoRemove") and policy["Name"] != "no":
            raise conflict("Restart policy cannot be updated because AutoRemove is enabled "
                           "for the container")
        merged["RestartPolicy"] = {"Name": policy["Name"],
                                   "MaximumRetryCount": int(policy.get("MaximumRetryCount") or 0)}
    return merged


def _check_merged_memory(container_id: str, merged: Mapping[str, Any]) -> None:
    """Limits that are each fine but do not fit together once merged (say a new swap
    limit below the memory limit already set): refused now rather than at the next start."""
    memory, swap = int(merged.get("Memory") or 0), int(merged.get("MemorySwap") or 0)
    reservation = int(merged.get("MemoryReservation") or 0)
    if memory > 0 and swap > 0 and swap < memory:
        raise cannot_update(container_id, InvalidArgument(
            "Minimum memoryswap limit should be larger than memory limit, see usage"))
    if memory > 0 and reservation > memory:
        raise cannot_update(container_id, InvalidArgument(
            "Minimum memory limit can not be less than memory reservation limit, see usage"))


def cgroup_change(host_config: Mapping[str, Any], update: Mapping[str, Any]) -> Resources:
    """What cgroupd applies: the merged limits, with "unlimited pids" spelled -1."""
    change = resources_from_host_config(host_config)
    pids = update.get("PidsLimit")
    if isinstance(pids, int) and pids <= 0:
        change = replace(change, pids_limit=-1)
    return change


class ContainerUpdater:
    def __init__(
        self, records: ContainerStore, states: StateReader, cgroups: CgroupUpdater,
        processes: RestartPolicyKeeper,
    ) -> None:
        self._records = records
        self._states = states
        self._cgroups = cgroups
        self._processes = processes

    async def update(self, record: ContainerRecord, update: Mapping[str, Any]) -> UpdateResult:
        """Apply a decoded body; the caller holds the container's lifecycle lock."""
        before = record.host_config
        merged = merge_host_config(record.id, before, update)
        updated = await self._records.update(record.id, lambda r: replace(r, host_config=merged))
        policy = update.get("RestartPolicy") or {}
        try:
            if policy.get("Name"):
                await self._keep_policy(record.id, merged["RestartPolicy"])
            warnings = await self._apply_live(record.id, merged, update)
        except BaseException:
            await self._restore(record.id, before, policy_changed=bool(policy.get("Name")))
            raise
        return UpdateResult(updated, warnings)

    async def _keep_policy(self, container_id: str, policy: Mapping[str, Any]) -> None:
        # NotFound: never started; its next start brings the recorded policy along.
        with contextlib.suppress(NotFound):
            await self._processes.update_restart_policy(
                container_id, str(policy["Name"]), int(policy["MaximumRetryCount"]))

    async def _apply_live(
        self, container_id: str, merged: Mapping[str, Any], update: Mapping[str, Any]
    ) -> tuple[str, ...]:
        """New limits for a container that holds a cgroup (running, paused, restarting)."""
        state = await read_state(self._states, container_id)
        if state.status in (CREATED, EXITED):
            return ()  # applied when it next starts, from the record
        try:
            applied = await self._cgroups.update_resources(
                container_id, cgroup_change(merged, update))
        except NotFound:
            return ()  # it stopped meanwhile
        except DockyardError as error:
            raise cannot_update(container_id, error) from None
        return applied.warnings

    async def _restore(
        self, container_id: str, host_config: Mapping[str, Any], *, policy_changed: bool
    ) -> None:
        with contextlib.suppress(DockyardError):
            await self._records.update(
                container_id, lambda r: replace(r, host_config=dict(host_config)))
        if policy_changed:
            with contextlib.suppress(DockyardError):
                await self._keep_policy(container_id, host_config.get("RestartPolicy")
                                        or {"Name": "no", "MaximumRetryCount": 0})
