"""``python -m services.imaged --config <path>``: run the image service."""

import sys

from services.common.grpc_server import run_service
from services.imaged.servicer import register

sys.exit(run_service("imaged", register))
