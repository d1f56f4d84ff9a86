"""``python -m launcher``: the same entry point as the ``dockyard`` console script."""

import sys

from launcher.cli import main

sys.exit(main())
