"""``python -m services.cgroupd --config <path>``: run the cgroup service."""

import sys

from services.cgroupd.servicer import register
from services.common.grpc_server import run_service

sys.exit(run_service("cgroupd", register))
