"""Engine API routes, one module per resource, each exporting ``ROUTES``."""

from __future__ import annotations

from gateway.routes import (
    container_archive,
    container_lifecycle,
    container_stats,
    container_update,
    containers,
    disk_usage,
    distribution,
    events,
    execs,
    image_archives,
    image_search,
    images,
    networks,
    system,
    volumes,
)
from gateway.routing import Route

ALL_ROUTES: tuple[Route, ...] = (
    *system.ROUTES, *images.ROUTES, *image_archives.ROUTES, *networks.ROUTES,
    *containers.ROUTES, *container_lifecycle.ROUTES, *execs.ROUTES, *distribution.ROUTES,
    *volumes.ROUTES, *container_stats.ROUTES, *container_update.ROUTES, *events.ROUTES,
    *disk_usage.ROUTES, *container_archive.ROUTES, *image_search.ROUTES,
)
