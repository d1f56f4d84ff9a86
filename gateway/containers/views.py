"""JSON shapes of containers: ``docker inspect`` and ``docker ps`` rows, as dockerd writes them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gateway.containers.network_settings import ENDPOINT_ZERO, SETTINGS_ZERO
from gateway.containers.records import ContainerRecord
from gateway.containers.state import state_json, status_text
from gateway.containers.times import parse_rfc3339
from services.execd.models import RuntimeState


def network_settings_json(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Docker's full NetworkSettings, zero values where the record has none."""
    out = {**SETTINGS_ZERO, **dict(settings)}
    out["Ports"] = dict(out.get("Ports") or {})
    out["Networks"] = {
        name: {**ENDPOINT_ZERO, **dict(endpoint or {})}
        for name, endpoint in dict(out.get("Networks") or {}).items()
    }
    return out


def inspect_json(
    record: ContainerRecord, runtime: RuntimeState, sizes: tuple[int, int] | None = None,
    exec_ids: Sequence[str] = (),
) -> dict[str, Any]:
    """``GET /containers/{id}/json``; ``sizes`` (SizeRw, SizeRootFs) when ``size=1``;
    ``exec_ids`` the exec sessions not ended (null when none, as dockerd)."""
    out: dict[str, Any] = {
        "Id": record.id,
        "Created": record.created,
        "Path": record.path,
        "Args": list(record.args),
        "State": state_json(runtime),
        "Image": record.image_id,
        "ResolvConfPath": record.resolv_conf_path,
        "HostnamePath": record.hostname_path,
        "HostsPath": record.hosts_path,
        "LogPath": record.log_path if record.has_been_started else "",
        "Name": record.name,
        "RestartCount": runtime.restart_count,
        "Driver": record.driver,
        "Platform": record.platform,
        "MountLabel": record.mount_label,
        "ProcessLabel": record.process_label,
        "AppArmorProfile": record.app_armor_profile,
        "ExecIDs": list(exec_ids) or None,
        "HostConfig": dict(record.host_config),
        "GraphDriver": {"Data": dict(record.graph_driver_data) or None, "Name": record.driver},
    }
    if sizes is not None:
        out["SizeRw"], out["SizeRootFs"] = sizes
    out["Mounts"] = [dict(m) for m in record.mounts]
    out["Config"] = dict(record.config)
    out["NetworkSettings"] = network_settings_json(record.network_settings)
    return out


def command_line(record: ContainerRecord) -> str:
    """The COMMAND column: Path and Args, each arg with a space in single quotes."""
    if not record.args:
        return record.path
    args = [f"'{a}'" if " " in a else a for a in record.args]
    return f"{record.path} {' '.join(args)}"


def port_list(settings: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Ports as ``docker ps`` lists them, from NetworkSettings.Ports (empty until started)."""
    ports: list[dict[str, Any]] = []
    for key, bindings in dict(settings.get("Ports") or {}).items():
        number, _, proto = str(key).partition("/")
        if not number.isdigit():
            continue
        if not bindings:
            ports.append({"PrivatePort": int(number), "Type": proto or "tcp"})
            continue
        for binding in bindings:
            port: dict[str, Any] = {}
            if binding.get("HostIp"):
                port["IP"] = binding["HostIp"]
            port["PrivatePort"] = int(number)
            host_port = str(binding.get("HostPort") or "")
            if host_port.isdigit() and int(host_port):
                port["PublicPort"] = int(host_port)
            port["Type"] = proto or "tcp"
            ports.append(port)
    return ports


def summary_json(
    record: ContainerRecord,
    runtime: RuntimeState,
    image: str,
    now: float,
    sizes: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """One ``GET /containers/json`` row; ``image`` is the name to show (see ``shown_image``)."""
    out: dict[str, Any] = {
        "Id": record.id,
        "Names": [record.name],
        "Image": image,
        "ImageID": record.image_id,
        "Command": command_line(record),
        "Created": int(parse_rfc3339(record.created) or 0),
        "Ports": port_list(record.network_settings),
    }
    if sizes is not None:
        out["SizeRw"], out["SizeRootFs"] = sizes
    out.update({
        "Labels": dict(record.config.get("Labels") or {}),
        "State": runtime.status,
        "Status": status_text(runtime, now),
        "HostConfig": {"NetworkMode": str(record.host_config.get("NetworkMode", ""))},
        "NetworkSettings": {
            "Networks": network_settings_json(record.network_settings)["Networks"]
        },
        "Mounts": [dict(m) for m in record.mounts],
    })
    annotations = record.host_config.get("Annotations")
    if annotations:
        out["HostConfig"]["Annotations"] = dict(annotations)
    return out
