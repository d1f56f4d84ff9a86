"""The field order dockerd marshals a container config in, for image configs we write.

An image's ID is the sha256 of its serialised config: ``docker import`` and
``docker commit`` write the ``config`` object in Go's encoding/json order of
container.Config, so the same inputs give dockerd's bytes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Go's encoding/json order for container.Config; keys absent here keep their place after.
CONFIG_ORDER = (
    "Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr",
    "ExposedPorts", "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Healthcheck",
    "ArgsEscaped", "Image", "Volumes", "WorkingDir", "Entrypoint", "NetworkDisabled",
    "MacAddress", "OnBuild", "Labels", "StopSignal", "StopTimeout", "Shell",
)


def ordered_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with its keys in :data:`CONFIG_ORDER`, unknown ones after in their order."""
    ordered = {k: config[k] for k in CONFIG_ORDER if k in config}
    ordered.update({k: v for k, v in config.items() if k not in ordered})
    return ordered
