"""The init binary ``--init`` bind-mounts at /sbin/docker-init.

dockerd ships tini as ``docker-init``; Debian's ``tini`` package has a static
build (/usr/bin/tini-static), which runs in any image, musl or glibc or none.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from services.common.errors import Unavailable

# Tried in order: Docker's own name, then Debian's static and dynamic tini.
CANDIDATES = ("docker-init", "tini-static", "tini")
DEBIAN_PACKAGE = "tini"
IN_CONTAINER_PATH = "/sbin/docker-init"


def locate_init_binary(configured: str = "") -> str:
    """Absolute host path of the init binary; a clear error naming the package if absent.

    ``configured`` is daemon.json's ``init-path``; when set it must exist.
    """
    if configured:
        if Path(configured).is_file() and os.access(configured, os.X_OK):
            return str(Path(configured).absolute())
        raise Unavailable(f"init-path {configured}: no such executable file")
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return os.path.realpath(path)
    raise Unavailable(
        "--init needs an init binary (docker-init, tini-static or tini) and none is "
        f"installed: install the Debian package {DEBIAN_PACKAGE}"
    )
