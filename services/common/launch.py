"""Which start of Dockyard a process belongs to (its *launch*).

Docker starts ``always`` and ``unless-stopped`` containers again when the
daemon starts, not when one of its parts restarts. ``dockyard up`` gives every
child it starts the same fresh launch ID in the environment; a component the
launcher restarts after a crash gets the same ID again, so a component can
tell "Dockyard started" (an ID it has not seen) from "I was restarted". Run
without the launcher (e.g. as separate compose services), the host's boot ID
stands in: then only a reboot counts as a start.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

LAUNCH_ID_ENV = "DOCKYARD_LAUNCH_ID"
BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def new_launch_id() -> str:
    """A fresh ID for one ``dockyard up``."""
    return uuid.uuid4().hex


def current_launch_id() -> str:
    """This process's launch: the launcher's ID, else ``boot:<boot id>``."""
    given = os.environ.get(LAUNCH_ID_ENV, "")
    if given:
        return given
    try:
        return "boot:" + BOOT_ID.read_text().strip()
    except OSError:
        return ""
