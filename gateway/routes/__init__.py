"""Engine API routes, one module per resource, each exporting ``ROUTES``."""

from __future__ import annotations

from gateway.routes import images, networks, system
from gateway.routing import Route

ALL_ROUTES: tuple[Route, ...] = (*system.ROUTES, *images.ROUTES, *networks.ROUTES)
