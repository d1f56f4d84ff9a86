"""``python -m services.netd --config <path>``: run the network service."""

import sys

from services.common.grpc_server import run_service
from services.netd.servicer import register

sys.exit(run_service("netd", register))
