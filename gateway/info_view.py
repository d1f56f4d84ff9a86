"""``GET /info``: the engine, the host and every service's facts in one answer.

The four services are asked concurrently. A part that does not answer shows
its configured or empty values and a warning naming it, as dockerd never fails
``docker info``. Typed facts become the API's JSON shape here and only here.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
from dataclasses import dataclass
from typing import Any

from gateway.backends import Backends
from gateway.buildinfo import BUILD, EngineBuild
from gateway.partial import Missing, ask
from gateway.sysinfo import HostFacts, hostname, open_fds, system_time
from services.cgroupd.hostinfo import CgroupHostInfo, cgroup_version
from services.common.config import DaemonConfig
from services.execd.client import RuntimeInfo
from services.execd.runtimes import ComponentVersion
from services.imaged.storeinfo import StoreInfo
from services.netd.hostinfo import NetworkInfo

log = logging.getLogger(__name__)

LOG_DRIVERS = ("json-file", "local")
VOLUME_DRIVERS = ("local",)
INDEX_SERVER = "https://index.docker.io/v1/"
DEFAULT_INSECURE_CIDRS = ("::1/128", "127.0.0.0/8")


@dataclass(frozen=True)
class InfoFacts:
    """Everything /info is made of, as typed values; a service's part may be missing."""

    engine_id: str
    config: DaemonConfig
    host: HostFacts
    build: EngineBuild
    store: StoreInfo | Missing
    network: NetworkInfo | Missing
    cgroups: CgroupHostInfo | Missing
    runtime: RuntimeInfo | Missing
    name: str
    system_time: str
    open_fds: int
    tasks: int


def registry_config(config: DaemonConfig) -> dict[str, Any]:
    """dockerd's ``RegistryConfig``: CIDR entries of insecure-registries stay CIDRs,
    names become insecure index configs; docker.io carries the mirrors."""
    cidrs = list(DEFAULT_INSECURE_CIDRS)
    insecure_names: list[str] = []
    for entry in config.insecure_registries:
        try:
            network = str(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            insecure_names.append(entry.removeprefix("http://").removeprefix("https://"))
            continue
        if network not in cidrs:
            cidrs.append(network)
    mirrors = [m if m.endswith("/") else m + "/" for m in config.registry_mirrors]
    indexes: dict[str, Any] = {
        "docker.io": {"Name": "docker.io", "Mirrors": mirrors, "Secure": True, "Official": True}
    }
    for name in insecure_names:
        indexes[name] = {"Name": name, "Mirrors": [], "Secure": False, "Official": False}
    return {
        "AllowNondistributableArtifactsCIDRs": None,
        "AllowNondistributableArtifactsHostnames": None,
        "InsecureRegistryCIDRs": cidrs,
        "IndexConfigs": indexes,
        "Mirrors": mirrors or None,
    }


def host_warnings(cgroups: CgroupHostInfo | Missing, network: NetworkInfo | Missing) -> list[str]:
    """The warnings dockerd derives from the same facts (daemon/info_unix.go)."""
    warnings: list[str] = []
    if not isinstance(cgroups, Missing):
        v1 = cgroups.version == "1"
        checks = (
            (cgroups.memory_limit, "WARNING: No memory limit support"),
            (cgroups.swap_limit, "WARNING: No swap limit support"),
            (cgroups.kernel_memory_tcp or not v1, "WARNING: No kernel memory TCP limit support"),
            (cgroups.oom_kill_disable or not v1, "WARNING: No oom kill disable support"),
            (cgroups.cpu_cfs_quota, "WARNING: No cpu cfs quota support"),
            (cgroups.cpu_cfs_period, "WARNING: No cpu cfs period support"),
            (cgroups.cpu_shares, "WARNING: No cpu shares support"),
            (cgroups.cpuset, "WARNING: No cpuset support"),
        )
        warnings.extend(text for supported, text in checks if not supported)
    if not isinstance(network, Missing):
        net_checks = (
            (network.ipv4_forwarding, "WARNING: IPv4 forwarding is disabled"),
            (network.bridge_nf_iptables, "WARNING: bridge-nf-call-iptables is disabled"),
            (network.bridge_nf_ip6tables, "WARNING: bridge-nf-call-ip6tables is disabled"),
        )
        warnings.extend(text for supported, text in net_checks if not supported)
    return warnings


_MISSING_FIELDS = {
    "imaged": "image count and storage driver status",
    "netd": "network drivers and forwarding settings",
    "cgroupd": "cgroup driver and resource limit support",
    "execd": "container counts and runtimes",
}


def missing_warnings(facts: InfoFacts) -> list[str]:
    # The reason (often a long gRPC text) goes to the gateway's log, not to users.
    return [
        f"WARNING: Dockyard service {m.part} is unavailable; "
        f"{_MISSING_FIELDS.get(m.part, 'its fields')} are not shown"
        for m in (facts.store, facts.network, facts.cgroups, facts.runtime)
        if isinstance(m, Missing)
    ]


def _proxy(name: str) -> str:
    return os.environ.get(name.upper()) or os.environ.get(name.lower()) or ""


def _fallbacks(config: DaemonConfig) -> tuple[StoreInfo, NetworkInfo, CgroupHostInfo, RuntimeInfo]:
    """What /info shows for a part that did not answer: the configured value or nothing."""
    return (
        StoreInfo(driver=config.storage_driver, driver_status=(), image_count=0,
                  data_root=config.data_root),
        NetworkInfo(drivers=(), bridge_name="", ipv4_forwarding=False, iptables=config.iptables,
                    bridge_nf_iptables=False, bridge_nf_ip6tables=False),
        # The version is a fact of the host the gateway can see itself; the spec's
        # enum has no "unknown".
        CgroupHostInfo(driver=config.cgroup_driver, version=cgroup_version(),
                       parent=config.cgroup_parent,
                       memory_limit=False, swap_limit=False, cpu_cfs_period=False,
                       cpu_cfs_quota=False, cpu_shares=False, cpuset=False, pids_limit=False,
                       oom_kill_disable=False, kernel_memory_tcp=False),
        RuntimeInfo(runtimes=(), default_runtime=config.default_runtime,
                    monitor=ComponentVersion("conmon", ""), containers_running=0,
                    containers_paused=0, containers_stopped=0),
    )


def info_view(facts: InfoFacts) -> dict[str, Any]:
    config, host = facts.config, facts.host
    store_fb, network_fb, cgroups_fb, runtime_fb = _fallbacks(config)
    store = store_fb if isinstance(facts.store, Missing) else facts.store
    network = network_fb if isinstance(facts.network, Missing) else facts.network
    cgroups = cgroups_fb if isinstance(facts.cgroups, Missing) else facts.cgroups
    runtime = runtime_fb if isinstance(facts.runtime, Missing) else facts.runtime

    runc = next((rt for rt in runtime.runtimes if rt.name == "runc"), None)
    security = ["name=seccomp,profile=builtin"]
    if cgroups.version == "2":
        security.append("name=cgroupns")
    labels = config.extra.get("labels")
    running, paused = runtime.containers_running, runtime.containers_paused
    stopped = runtime.containers_stopped

    return {
        "ID": facts.engine_id,
        "Containers": running + paused + stopped,
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": stopped,
        "Images": store.image_count,
        "Driver": store.driver,
        "DriverStatus": [list(pair) for pair in store.driver_status],
        "Plugins": {
            "Volume": list(VOLUME_DRIVERS),
            "Network": list(network.drivers),
            "Authorization": None,
            "Log": list(LOG_DRIVERS),
        },
        "MemoryLimit": cgroups.memory_limit,
        "SwapLimit": cgroups.swap_limit,
        "KernelMemoryTCP": cgroups.kernel_memory_tcp,
        "CpuCfsPeriod": cgroups.cpu_cfs_period,
        "CpuCfsQuota": cgroups.cpu_cfs_quota,
        "CPUShares": cgroups.cpu_shares,
        "CPUSet": cgroups.cpuset,
        "PidsLimit": cgroups.pids_limit,
        "IPv4Forwarding": network.ipv4_forwarding,
        "BridgeNfIptables": network.bridge_nf_iptables,
        "BridgeNfIp6tables": network.bridge_nf_ip6tables,
        "Debug": config.debug,
        "NFd": facts.open_fds,
        "OomKillDisable": cgroups.oom_kill_disable,
        "NGoroutines": facts.tasks,
        "SystemTime": facts.system_time,
        "LoggingDriver": config.log_driver,
        "CgroupDriver": cgroups.driver,
        "CgroupVersion": cgroups.version,
        "NEventsListener": 0,
        "KernelVersion": host.kernel_version,
        "OperatingSystem": host.operating_system,
        "OSVersion": host.os_version,
        "OSType": "linux",
        "Architecture": host.machine,
        "IndexServerAddress": INDEX_SERVER,
        "RegistryConfig": registry_config(config),
        "NCPU": host.ncpu,
        "MemTotal": host.mem_total,
        "GenericResources": None,
        "DockerRootDir": config.data_root,
        "HttpProxy": _proxy("http_proxy"),
        "HttpsProxy": _proxy("https_proxy"),
        "NoProxy": _proxy("no_proxy"),
        "Name": facts.name,
        "Labels": [str(label) for label in labels] if isinstance(labels, list) else [],
        "ExperimentalBuild": False,
        "ServerVersion": facts.build.version,
        "Runtimes": {rt.name: {"path": rt.path} for rt in runtime.runtimes},
        "DefaultRuntime": runtime.default_runtime,
        "Swarm": {
            "NodeID": "",
            "NodeAddr": "",
            "LocalNodeState": "inactive",
            "ControlAvailable": False,
            "Error": "",
            "RemoteManagers": None,
        },
        "LiveRestoreEnabled": config.live_restore,
        "Isolation": "",
        "InitBinary": "",
        # No containerd and no init binary: empty IDs, as dockerd shows for absent parts.
        "ContainerdCommit": {"ID": ""},
        "RuncCommit": {"ID": runc.version.details.get("commit", "") if runc else ""},
        "InitCommit": {"ID": ""},
        "SecurityOptions": security,
        "DefaultAddressPools": [
            {"Base": p.base, "Size": p.size} for p in config.default_address_pools
        ],
        "CDISpecDirs": [],
        "Containerd": None,
        "Warnings": missing_warnings(facts) + host_warnings(facts.cgroups, facts.network),
    }


async def gather_info(
    backends: Backends, config: DaemonConfig, host: HostFacts, engine_id: str
) -> dict[str, Any]:
    store, network, cgroups, runtime = await asyncio.gather(
        ask("imaged", backends.images.get_store_info()),
        ask("netd", backends.networks.get_network_info()),
        ask("cgroupd", backends.cgroups.get_host_info()),
        ask("execd", backends.runtime.get_runtime_info()),
    )
    facts = InfoFacts(
        engine_id=engine_id,
        config=config,
        host=host,
        build=BUILD,
        store=store,
        network=network,
        cgroups=cgroups,
        runtime=runtime,
        name=hostname(),
        system_time=system_time(),
        open_fds=open_fds(),
        tasks=len(asyncio.all_tasks()),
    )
    for part in (store, network, cgroups, runtime):
        if isinstance(part, Missing):
            log.warning("info without %s: %s", part.part, part.reason)
    return info_view(facts)
