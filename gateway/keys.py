"""Typed application keys: what the app holds for its handlers."""

from __future__ import annotations

from aiohttp import web

from gateway.backends import Backends
from gateway.containers.watcher import RuntimeWatcher
from gateway.sysinfo import HostFacts
from services.common.config import DaemonConfig

CONFIG = web.AppKey("config", DaemonConfig)
BACKENDS = web.AppKey("backends", Backends)
"""The service clients and the store; set by the start-up context."""
HOST_FACTS = web.AppKey("host_facts", HostFacts)
ENGINE_ID = web.AppKey("engine_id", str)
"""The cluster's stable engine ID, read (or created) in etcd at start-up."""
WATCHER = web.AppKey("watcher", RuntimeWatcher)
"""Follows containers' process states (wait, release after exit, --rm); set at start-up."""
