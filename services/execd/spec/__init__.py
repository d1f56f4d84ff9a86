"""The OCI runtime spec of a Docker container: what dockerd would hand runc.

Callers build a :class:`SpecInputs` from the container record and the host
paths other services resolved, and get config.json (``build_spec``) or an
exec's process.json (``build_exec_process``) as plain JSON-ready dicts.
"""

from services.execd.spec.build import OCI_VERSION, build_exec_process, build_spec
from services.execd.spec.hostfacts import HostFacts
from services.execd.spec.initbinary import locate_init_binary
from services.execd.spec.inputs import MountPoint, SpecInputs
from services.execd.spec.process import merge_image_config

__all__ = [
    "OCI_VERSION",
    "HostFacts",
    "MountPoint",
    "SpecInputs",
    "build_exec_process",
    "build_spec",
    "locate_init_binary",
    "merge_image_config",
]
