"""``python -m services.execd --config <path>``: run the process service."""

import sys

from services.common.grpc_server import run_service
from services.execd.servicer import register

sys.exit(run_service("execd", register))
