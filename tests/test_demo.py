"""`make demo`'s program end to end: embedded servers, every DAG once, a readable summary."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from maintenance_ops.core.instance import MARKER_NAME


def test_demo_runs_every_dag_and_reports_what_it_found(tmp_path: Path) -> None:
    env = {**os.environ, "MAINTENANCE_DEMO_DIR": str(tmp_path / "demo")}
    env.pop("MAINTENANCE_DEMO_TARGET", None)
    env.pop("MAINTENANCE_CONFIG", None)
    done = subprocess.run(
        [sys.executable, "-m", "maintenance_ops.demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    assert "Demo finished: all DAGs succeeded." in out
    for expected in (
        "replica on 127.0.0.1:",
        "DROP INDEX `idx_customer_dup`",
        "Maintenance account: mmc_demo (include/sql/grants.sql)",
        "cleanup django_session on demo_shop.django_session: deleted 2402 row(s)",
        "restored and verified in",
        "DR readiness ready (score 100/100)",
    ):
        assert expected in out, out
    # Each DAG's grid: every step its own task per database, in order, all successful.
    for steps in (
        "index_analysis [demo] success",
        "statistics [demo] success",
        "cleanup [demo] success",
        "backup [demo] success",
        "optimize [demo] success",
        "performance [demo] success",
        "integrity [demo] success",
        "capacity [demo] success",
        "restore_verify [demo] success",
        "replica_readiness [demo] success",
        "drill [demo] success",
    ):
        assert re.search(rf"steps: .*{re.escape(steps)}", out), (steps, out)
    assert re.search(r"steps: health_check \[demo( · \d+ \w+)?\] success", out), out
    # The score itself depends on the machine's CPU load at that moment (a threshold).
    assert re.search(r"health \d+/100", out), out
    # Both embedded servers were stopped and their folders removed.
    assert not list((tmp_path / "demo").rglob(MARKER_NAME))
