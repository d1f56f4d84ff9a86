"""Shaping schemathesis' generated requests so fuzzing the Engine API stays on this host.

The generator knows only the spec; left alone it would ask the cluster to pull
from Docker Hub, give a bridge the host's own subnet, or stream events forever.
:func:`shape_case` rewrites exactly those values, and points path parameters at
real objects some of the time, so handlers get past their "no such object" check
and their validation is what the fuzz reaches. Everything else is left as generated.
"""

from __future__ import annotations

import hashlib
import ipaddress
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st
from schemathesis.core import NotSet

# A closed port on loopback: registry traffic ends here, refused at once.
NOWHERE_REGISTRY = "127.0.0.1:9"
# RFC 2544's benchmarking range: never the host's own networks (192.0.2.0/24
# here), so a fuzzed bridge subnet cannot shadow a route the host uses.
SAFE_SUPERNET = ipaddress.IPv4Network("198.18.0.0/15")
# Longest a stop or restart may wait for the container before killing it.
MAX_STOP_SECONDS = 1
# Operations that talk to a registry: refused by NOWHERE_REGISTRY, they answer
# 5xx naming it, as dockerd does (its 500 for an unreachable registry).
REGISTRY_OPERATIONS = frozenset({
    ("POST", "/auth"), ("GET", "/distribution/{name}/json"), ("POST", "/images/create"),
    ("POST", "/images/{name}/push"), ("GET", "/images/search"),
})


def registry_unreachable(method: str, path: str, status: int, body: bytes) -> bool:
    """A 5xx that only says the (deliberately closed) registry refused the connection."""
    return (method, path) in REGISTRY_OPERATIONS and status in (500, 502, 503) \
        and NOWHERE_REGISTRY.encode() in body


@dataclass(frozen=True)
class RealObjects:
    """Names and ids of objects the fuzz may address, per kind of path parameter."""

    containers: tuple[str, ...]
    exited: str
    """A container that has run and exited: waiting on it returns at once."""
    execs: tuple[str, ...]
    networks: tuple[str, ...]
    volumes: tuple[str, ...]
    images: tuple[str, ...]

    def for_path(self, path: str) -> tuple[str, ...]:
        """The real objects a ``{id}``/``{name}`` in ``path`` names."""
        for prefix, found in (
            ("/containers/", self.containers), ("/exec/", self.execs),
            ("/networks/", self.networks), ("/volumes/", self.volumes),
            ("/images/", self.images),
        ):
            if path.startswith(prefix):
                return found
        return ()


Draw = Callable[[st.SearchStrategy[Any]], Any]

WAIT = "/containers/{id}/wait"
# Conditions under which /wait returns only when the container next stops or is
# removed (as dockerd's does): asked of a real container, that is never.
WAITING_CONDITIONS = ("next-exit", "removed")
# No container's name or ID starts so: a generated ID such as "0" would otherwise
# match a real container's ID by prefix and wait with it.
ABSENT = "fuzz-absent-"


def shape_case(case: Any, real: RealObjects, draw: Draw) -> None:
    """Rewrite ``case`` in place (see the module docstring)."""
    if case.path == WAIT:
        _bound_wait(case, real, draw)
    else:
        _point_at_real_objects(case, real, draw)
    if isinstance(case.query, dict):
        _bound_waits(case.path, case.query)
        _keep_registries_local(case.path, case.query)
    if case.path == "/networks/create" and isinstance(case.body, dict):
        _safe_subnets(case.body)
    if case.path == "/auth":
        # Without a serveraddress the login goes to Docker Hub; bodies that are
        # not objects stay (the gateway refuses them before any login).
        if isinstance(case.body, dict):
            case.body["serveraddress"] = NOWHERE_REGISTRY
        elif isinstance(case.body, NotSet):
            case.body = {"serveraddress": NOWHERE_REGISTRY}
    if case.path in ("/images/{name}/push", "/distribution/{name}/json"):
        case.path_parameters["name"] = f"{NOWHERE_REGISTRY}/{case.path_parameters.get('name')}"
    if case.path == "/images/search":
        # A term without a registry host (or no term) searches Docker Hub's index.
        query = case.query if isinstance(case.query, dict) else {}
        query["term"] = f"{NOWHERE_REGISTRY}/{query.get('term', '')}"
        case.query = query
    _point_bodies_at_real_objects(case, real, draw)


def _bound_wait(case: Any, real: RealObjects, draw: Draw) -> None:
    """/wait on a container that has exited, or on none at all."""
    if draw(st.booleans()):
        case.path_parameters["id"] = real.exited
        if isinstance(case.query, dict) and case.query.get("condition") in WAITING_CONDITIONS:
            case.query["condition"] = "not-running"
    else:
        case.path_parameters["id"] = f"{ABSENT}{case.path_parameters.get('id')}"


def _point_at_real_objects(case: Any, real: RealObjects, draw: Draw) -> None:
    candidates = real.for_path(case.path)
    if not candidates or not isinstance(case.path_parameters, dict):
        return
    for name in ("id", "name"):
        if name in case.path_parameters and draw(st.integers(0, 3)) > 0:
            case.path_parameters[name] = draw(st.sampled_from(candidates))


def _point_bodies_at_real_objects(case: Any, real: RealObjects, draw: Draw) -> None:
    """Image and container names inside bodies and queries, sometimes real ones."""
    if not draw(st.booleans()):
        return
    if case.path == "/containers/create" and isinstance(case.body, dict):
        case.body["Image"] = draw(st.sampled_from(real.images))
    if case.path in ("/networks/{id}/connect", "/networks/{id}/disconnect") \
            and isinstance(case.body, dict):
        case.body["Container"] = draw(st.sampled_from(real.containers))
    if case.path == "/commit" and isinstance(case.query, dict):
        case.query["container"] = draw(st.sampled_from(real.containers))


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            return None
    return None


def _bound_waits(path: str, query: dict[str, Any]) -> None:
    """Turn "wait as long as asked" and "stream forever" into bounded requests.

    Each is what dockerd does too (a stop with t=86400 waits a day); the fuzz
    is after answers, so these values are replaced, malformed ones kept.
    """
    if path in ("/containers/{id}/stop", "/containers/{id}/restart"):
        seconds = _as_int(query.get("t"))
        # Negative waits forever; numbers past 64 bits stay (they must be refused).
        if seconds is not None and -(1 << 63) <= seconds < (1 << 63) \
                and not 0 <= seconds <= MAX_STOP_SECONDS:
            query["t"] = MAX_STOP_SECONDS
    if path == "/containers/{id}/logs":
        query["follow"] = "0"
    if path == "/containers/{id}/stats":
        query["stream"] = "0"
    if path == "/containers/{id}/attach":
        query["stream"] = "0"
    if path == "/events":
        now = int(time.time())
        until = _as_int(query.get("until"))
        if query.get("until") in (None, "") or (until is not None and until > now):
            query["until"] = str(now)


def _keep_registries_local(path: str, query: dict[str, Any]) -> None:
    if path != "/images/create":
        return
    if "fromImage" in query:
        query["fromImage"] = f"{NOWHERE_REGISTRY}/{query['fromImage']}"
    source = query.get("fromSrc")
    if source is not None and source != "-":
        query["fromSrc"] = f"http://{NOWHERE_REGISTRY}/{source}"


def _safe_subnets(body: dict[str, Any]) -> None:
    """Move every well-formed address in IPAM configs into :data:`SAFE_SUPERNET`."""
    ipam = body.get("IPAM")
    if not isinstance(ipam, Mapping):
        return
    configs = ipam.get("Config")
    if not isinstance(configs, Sequence) or isinstance(configs, str):
        return
    for config in configs:
        if not isinstance(config, dict):
            continue
        for key in ("Subnet", "IPRange", "Gateway"):
            if key in config:
                config[key] = safe_address(config[key])
        aux = config.get("AuxiliaryAddresses")
        if isinstance(aux, dict):
            for name in list(aux):
                aux[name] = safe_address(aux[name])


def safe_address(value: Any) -> Any:
    """A valid IPv4 address or prefix mapped into the safe range; anything else as it was.

    Malformed values stay so the gateway's validation is still fuzzed; IPv6 ones
    stay too (netd configures IPv4 on bridges only).
    """
    if not isinstance(value, str):
        return value
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return value
    if network.version != 4:
        return value
    # The /24 holding the value picks the safe /24, so a gateway stays inside
    # its subnet and distinct subnets in one body stay distinct.
    address = network.network_address if "/" in value else ipaddress.IPv4Address(value)
    around = ipaddress.IPv4Network(f"{address}/24", strict=False)
    index = int(hashlib.sha256(str(around).encode()).hexdigest(), 16) % 512
    block = SAFE_SUPERNET.network_address + index * 256
    if "/" in value:
        return f"{block + (int(address) & 0xFF)}/{max(network.prefixlen, 24)}"
    return str(block + (int(address) & 0xFF))
