"""Command line: ``python -m maintenance_ops status [--schedules] [--format json]``."""

from __future__ import annotations

import sys

from maintenance_ops.status import main

# Airflow's plugin manager imports every module under plugins/: only run when executed.
if __name__ == "__main__":
    sys.exit(main())
