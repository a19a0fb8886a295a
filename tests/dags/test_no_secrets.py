"""No password anywhere: the daily and backup DAGs run as an account whose password breaks naive
quoting, then every place a secret could leak is read back and searched for it.

Searched: everything the run printed (stdout/stderr at the file-descriptor level, so child
processes too), every log record, every file under the Airflow home (task logs) and under the
test's folder (reports, backups and their manifests), every XCom of both runs, every column of
the audit log, and the failures (a database on a closed port fails its tasks: the exception is
logged and audited).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote, quote_plus

import pytest

from maintenance_ops.core.instance import free_port
from tests.conftest import Target, target_database
from tests.dags.conftest import run_dag, task_states
from tests.support.accounts import PASSWORD

# The password as each encoding would show it, and its two halves around the URI's '@', so a
# redaction that stops at the first '@' (or a partial repr) is caught too.
FORMS = {
    "raw": PASSWORD,
    "json": json.dumps(PASSWORD)[1:-1],
    "json-ascii": json.dumps(PASSWORD, ensure_ascii=True)[1:-1],
    "repr": repr(PASSWORD)[1:-1],
    "url": quote(PASSWORD, safe=""),
    "url-plus": quote_plus(PASSWORD),
    "head": PASSWORD.split("@")[0],
    "tail": PASSWORD.split("@")[1],
}


def _leaks(text: str) -> list[str]:
    return [name for name, form in FORMS.items() if form in text]


def _files(*roots: Path) -> Iterator[tuple[Path, str]]:
    for root in roots:
        for path in root.rglob("*"):
            # The metadata database is read through its XComs below.
            if path.is_file() and not path.name.startswith("airflow.db"):
                yield path, path.read_bytes().decode("utf-8", "replace")


def _xcoms(run_ids: list[str]) -> list[tuple[str, str]]:
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = session.query(XComModel).filter(XComModel.run_id.in_(run_ids)).all()
        return [(f"{r.task_id}[{r.map_index}].{r.key}", json.dumps(r.value)) for r in rows]


def test_no_password_in_logs_xcom_reports_audit_rows_or_errors(
    target: Target,
    write_config: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert target.account is not None and target.account.password == PASSWORD
    caplog.set_level(logging.DEBUG)
    target.sql("CREATE TABLE events (id INT PRIMARY KEY, created DATETIME NOT NULL, kind CHAR(4))")
    target.sql("INSERT INTO events VALUES (1, '2000-01-01', 'tmp'), (2, NOW(), 'keep')")
    # The same account on a port where nothing listens: its tasks fail, their errors are read.
    broken = json.loads(target.account.conn_json())
    broken["port"] = free_port()
    monkeypatch.setenv("AIRFLOW_CONN_MMC_TEST_BROKEN", json.dumps(broken))
    write_config(
        {
            "databases": [
                target_database(
                    target,
                    backup={"enabled": True, "location": (tmp_path / "backups").as_uri()},
                    cleanup_rules=[
                        {
                            "name": "old_tmp_events",
                            "table": "events",
                            "date_column": "created",
                            "retention_days": 30,
                            "where": "kind = 'tmp'",
                        }
                    ],
                ),
                {
                    **target_database(target, "broken"),
                    "conn_id": "mmc_test_broken",
                    "backup": {"enabled": True, "location": (tmp_path / "none").as_uri()},
                },
            ],
            "notifications": {"send_reports": False, "report_dir": str(tmp_path / "reports")},
        }
    )

    daily = run_dag("mysql_daily_maintenance")
    tested = run_dag("mysql_backup_testing")

    # The run did what it should: real work on the target, real failures on the closed port.
    for run, first, last in (
        (daily, "maintain.index_analysis", "maintain.backup"),
        (tested, "maintain.restore_verify", "maintain.restore_verify"),
    ):
        states = task_states(run)
        assert states[(last, 0)] == "success" and states[(first, 1)] == "failed", states
    assert target.sql("SELECT id FROM events") == [(2,)]
    assert len(list((tmp_path / "backups" / "primary").iterdir())) == 1

    searched: dict[str, str] = {}
    printed = capfd.readouterr()
    searched["stdout"], searched["stderr"] = printed.out, printed.err
    searched["log records"] = "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records
    )
    for path, text in _files(Path(os.environ["AIRFLOW_HOME"]), tmp_path):
        searched[str(path)] = text
    for name, value in _xcoms([daily.run_id, tested.run_id]):
        searched[f"xcom {name}"] = value
    audit = target.sql(f"SELECT * FROM `{target.history_schema}`.maintenance_log")
    searched["audit rows"] = "\n".join(repr(row) for row in audit)

    # Make sure the search looked at something: the run's own lines, XComs, reports, audit rows.
    assert "cleanup old_tmp_events" in searched["stdout"] + searched["log records"]
    assert any(name.startswith("xcom ") for name in searched)
    assert any("reports" in name for name in searched)
    assert audit
    assert "Can't connect" in "".join(searched.values())

    leaks = {name: _leaks(text) for name, text in searched.items() if _leaks(text)}
    assert leaks == {}, leaks
