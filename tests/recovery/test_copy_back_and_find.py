"""``restore_from_backup.py find`` and ``copy-back``, run as the on-call account.

find reads a private binlog server's binary logs remotely; copy-back copies from a private
server (the restored copy, as its root) to the shared server (production, as the on-call
account with grants.sql's copy-back grants on the test's schema). Root only builds fixtures.
"""

from __future__ import annotations

import datetime as dt
import re
import time
import uuid
from collections.abc import Iterator

import pytest

from maintenance_ops.core.instance import InstanceSpec, MySQLInstance
from maintenance_ops.recovery.copy_back import chunk_sql, existing_sql, insert_sql
from tests.conftest import run_sql
from tests.recovery.oncall import OnCall, create_oncall, drop_oncall, run_runbook

SCRIPT = "restore_from_backup.py"
# A BEFORE INSERT trigger like sakila's payment one: every row inserted gets a new date.
TRIGGER = (
    "CREATE TRIGGER {schema}.payment_date BEFORE INSERT ON {schema}.payment FOR EACH ROW "
    "SET NEW.paid = '2099-01-01 00:00:00'"
)


def test_statement_builders() -> None:
    assert chunk_sql("`s`.`t`", ["a", "b", "v"], ["a", "b"], "v > 1", (1, 2), 500) == (
        "SELECT `a`, `b`, `v` FROM `s`.`t` WHERE (v > 1) AND (`a`, `b`) > (%s, %s)"
        " ORDER BY `a`, `b` LIMIT %s",
        (1, 2, 500),
    )
    assert chunk_sql("`s`.`t`", ["id"], ["id"], None, None, 10) == (
        "SELECT `id` FROM `s`.`t` ORDER BY `id` LIMIT %s",
        (10,),
    )
    assert existing_sql("`s`.`t`", ["id", "v"], ["id"], [(1,), (2,)]) == (
        "SELECT `id`, `v` FROM `s`.`t` WHERE `id` IN (%s, %s)",
        (1, 2),
    )
    assert insert_sql("`s`.`t`", ["id", "v"], 2)[0] == (
        "INSERT IGNORE INTO `s`.`t` (`id`, `v`) VALUES (%s, %s), (%s, %s)"
    )


# ------------------------------------------------------------------------------------------
# copy-back
# ------------------------------------------------------------------------------------------

ORIGINAL = [(i, f"2026-01-0{i} 10:00:00" if i < 10 else "2026-01-10 10:00:00", i * 10)
            for i in range(1, 11)]  # fmt: skip


@pytest.fixture(scope="module")
def restored() -> Iterator[MySQLInstance]:
    """The restored copy: the table as it was before the damage."""
    with MySQLInstance(InstanceSpec()) as copy:
        yield copy


@pytest.fixture
def incident(restored: MySQLInstance) -> Iterator[tuple[str, OnCall]]:
    """Production after a bad DELETE (ids 3-6) and later writes (11, 12 new; 2 changed)."""
    schema = f"mmc_cb_{uuid.uuid4().hex[:10]}"
    create = (
        f"CREATE TABLE `{schema}`.payment (id INT PRIMARY KEY, paid DATETIME NOT NULL, "
        "amount INT NOT NULL)"
    )
    for run in (run_sql, restored.execute):
        run(f"CREATE DATABASE `{schema}`")
        run(create)
        for row in ORIGINAL:
            run(f"INSERT INTO `{schema}`.payment VALUES (%s, %s, %s)", row)
    run_sql(f"DELETE FROM `{schema}`.payment WHERE id BETWEEN 3 AND 6")
    run_sql(f"INSERT INTO `{schema}`.payment VALUES (11, '2026-02-01', 1), (12, '2026-02-01', 2)")
    run_sql(f"UPDATE `{schema}`.payment SET amount = 21 WHERE id = 2")
    account = create_oncall(run_sql, 3306, schemas=[schema])
    yield schema, account
    drop_oncall(run_sql, account)
    run_sql(f"DROP DATABASE IF EXISTS `{schema}`")
    restored.execute(f"DROP DATABASE IF EXISTS `{schema}`")


def copy_back(restored: MySQLInstance, account: OnCall, schema: str, *extra: str):
    from_uri = f"mysql://root@127.0.0.1:{restored.port}"
    return run_runbook(
        SCRIPT, "copy-back", "--from", from_uri, "--to", account.url(),
        "--table", f"{schema}.payment", *extra, account=account,
        env={"MMC_RUNBOOK_PASSWORD_FROM": getattr(restored, "password", "") or ""},
    )  # fmt: skip


def _rows(schema: str) -> dict[int, tuple[str, int]]:
    return {
        int(r[0]): (str(r[1]), int(r[2]))
        for r in run_sql(f"SELECT id, paid, amount FROM `{schema}`.payment")
    }


def test_copy_back_dry_run_counts_and_changes_nothing(
    restored: MySQLInstance, incident: tuple[str, OnCall]
) -> None:
    schema, account = incident
    before = _rows(schema)
    done = copy_back(restored, account, schema, "--dry-run")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"privileges: 127.0.0.1:3306 as '{account.user}'@'%' holds every grant" in done.stdout
    assert "10 rows in the restored copy match; 4 missing on production (would be copied)" in (
        done.stdout
    )
    assert "on both sides, left alone: 6 (5 identical, 1 different)" in done.stdout
    assert "different on production (check by hand): id=2" in done.stdout
    assert _rows(schema) == before


def test_copy_back_copies_only_the_missing_rows(
    restored: MySQLInstance, incident: tuple[str, OnCall]
) -> None:
    schema, account = incident
    done = copy_back(restored, account, schema)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 missing on production (copied 4)" in done.stdout
    rows = _rows(schema)
    assert sorted(rows) == list(range(1, 13))  # the lost rows back, the later ones kept
    assert rows[2] == ("2026-01-02 10:00:00", 21)  # production's later change wins
    for row_id, paid, amount in ORIGINAL[2:6]:
        assert rows[row_id] == (paid, amount)  # exactly as they were
    again = copy_back(restored, account, schema)
    assert "0 missing on production (copied 0)" in again.stdout


def test_copy_back_where_limits_the_rows(
    restored: MySQLInstance, incident: tuple[str, OnCall]
) -> None:
    schema, account = incident
    done = copy_back(restored, account, schema, "--where", "id <= 4")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 rows in the restored copy match; 2 missing on production (copied 2)" in done.stdout
    assert sorted(_rows(schema)) == [1, 2, 3, 4, 7, 8, 9, 10, 11, 12]
    bad = copy_back(restored, account, schema, "--where", "1=1) OR (1=1")
    assert bad.returncode == 2 and "error: --where" in bad.stderr and "Traceback" not in bad.stderr
    assert sorted(_rows(schema)) == [1, 2, 3, 4, 7, 8, 9, 10, 11, 12]


def test_copy_back_into_a_table_with_an_insert_trigger(
    restored: MySQLInstance, incident: tuple[str, OnCall]
) -> None:
    """The trigger would rewrite every row copied: refused; with --triggers-fire, copied and
    the rewritten rows listed (no server can switch triggers off for one session)."""
    schema, account = incident
    run_sql(TRIGGER.format(schema=f"`{schema}`"))
    refused = copy_back(restored, account, schema)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "has INSERT triggers" in refused.stderr and "payment_date (BEFORE)" in refused.stderr
    assert sorted(_rows(schema)) == [1, 2, 7, 8, 9, 10, 11, 12]
    done = copy_back(restored, account, schema, "--triggers-fire")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "rows a trigger changed after the copy: id=3, id=4, id=5, id=6" in done.stdout


def test_copy_back_refuses_the_same_server(incident: tuple[str, OnCall]) -> None:
    schema, account = incident
    done = run_runbook(
        SCRIPT, "copy-back", "--from", account.url(), "--to", account.url(),
        "--table", f"{schema}.payment", account=account,
    )  # fmt: skip
    assert done.returncode == 1 and "are the same server" in done.stderr


# ------------------------------------------------------------------------------------------
# find
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def binlog_server() -> Iterator[tuple[MySQLInstance, dt.datetime]]:
    with MySQLInstance(InstanceSpec(binlog=True)) as server:
        since = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=1)
        server.execute("CREATE DATABASE app")
        server.execute("CREATE TABLE app.orders (id INT PRIMARY KEY, v INT)")
        server.execute("CREATE TABLE app.other (id INT PRIMARY KEY)")
        server.execute("INSERT INTO app.orders VALUES (1, 1), (2, 2), (3, 3)")
        server.execute("INSERT INTO app.other VALUES (1)")
        time.sleep(1.1)  # the damage in a later second than the good writes
        server.execute("DELETE FROM app.orders WHERE id > 1")
        yield server, since


def test_find_lists_the_events_on_the_table(
    binlog_server: tuple[MySQLInstance, dt.datetime],
) -> None:
    server, since = binlog_server
    account = create_oncall(server.execute, server.port)
    done = run_runbook(
        SCRIPT, "find", "--binlog-source", account.url(), "--table", "app.orders",
        "--since", f"{since:%Y-%m-%d %H:%M:%S}", account=account,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "3 transactions or statements touched app.orders" in out
    assert "statement: CREATE TABLE app.orders" in out
    assert "INSERT 3 rows: INSERT INTO app.orders VALUES (1, 1), (2, 2), (3, 3)" in out
    delete = re.search(
        r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC  (binlog\.\d+) (\d+)-(\d+) GTID (\S+)  "
        r"DELETE 2 rows: DELETE FROM app\.orders WHERE id > 1", out
    )  # fmt: skip
    assert delete, out
    assert f"before it: --until '{delete[1]}'" in out
    assert "app.other" not in out


def test_find_names_a_missing_grant(binlog_server: tuple[MySQLInstance, dt.datetime]) -> None:
    server, since = binlog_server
    account = create_oncall(server.execute, server.port, skip=["GRANT REPLICATION SLAVE ON"])
    done = run_runbook(
        SCRIPT, "find", "--binlog-source", account.url(), "--table", "app.orders",
        "--since", f"{since:%Y-%m-%d %H:%M:%S}", account=account,
    )  # fmt: skip
    assert done.returncode == 1, done.stdout + done.stderr
    assert "REPLICATION SLAVE ON *.*" in done.stderr and "fix: GRANT REPLICATION SLAVE" in (
        done.stderr
    )
