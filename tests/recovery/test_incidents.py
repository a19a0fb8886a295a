"""One test per incident of ``include/recovery/disaster_recovery.md``, running its commands as written.

Each test sets the incident up for real on private servers (root builds the fixtures), defines
the Airflow connections the document names (``mysql_oncall_primary``, ``mysql_oncall_replica1``)
as grants.sql's on-call account, sets the shell variables the document tells the reader to set
(``UNTIL``, ``PORT``...), and runs the ```` ```bash ```` blocks of the incident's section with
bash from the project root, exactly as they are in the document. Then it checks what the
document promises: what the commands print, their exit codes, and the data verified the way
the document says to verify it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shlex
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import MySQLdb
import pytest

from maintenance_ops.core.instance import InstanceSpec, MySQLInstance
from tests.conftest import REPO
from tests.recovery.oncall import OnCall, create_oncall
from tests.recovery.test_failover_to_replica import APP_USER, Writer
from tests.support.accounts import Account, create_account
from tests.support.catalogs import load_chinook
from tests.support.replication import ReplicationPair, replication_pair

DOC = REPO / "include" / "recovery" / "disaster_recovery.md"
PRIMARY, REPLICA = "mysql_oncall_primary", "mysql_oncall_replica1"
MAINTENANCE = "mysql_maintenance_default"  # the DAGs' connection: it takes the backups
SCHEMA = "chinook"
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# Set to a folder to keep what each command printed (the document's excerpts come from there).
TRANSCRIPTS_ENV = "MMC_INCIDENT_TRANSCRIPTS"
_MARK = "@@doc-command@@"
_ER_READ_ONLY = 1290
_HEADING = re.compile(r"^(#+) (.+?)\s*$")
_FENCE = re.compile(r"^```(\w*)\s*$")

# ------------------------------------------------------------------------------------------
# The document's commands
# ------------------------------------------------------------------------------------------


def section(heading: str, text: str | None = None) -> str:
    """Return the text under ``heading`` up to the next heading of the same or a higher level."""
    lines = (DOC.read_text(encoding="utf-8") if text is None else text).splitlines()
    level, body, fenced = 0, [], False
    for line in lines:
        fenced ^= bool(_FENCE.match(line))
        found = None if fenced else _HEADING.match(line)
        if level and found and len(found[1]) <= level:
            break
        if level:
            body.append(line)
        elif found and found[2] == heading:
            level = len(found[1])
    if not level:
        raise AssertionError(f"disaster_recovery.md has no heading {heading!r}")
    return "\n".join(body)


def bash_blocks(heading: str, text: str | None = None) -> list[list[str]]:
    """Return the commands of each ```bash block under ``heading`` (continuation lines joined)."""
    blocks: list[list[str]] = []
    kind: str | None = None  # the open block's language, None outside a block
    for line in section(heading, text).splitlines():
        fence = _FENCE.match(line)
        if fence:
            kind = fence[1] if kind is None else None
            if kind == "bash":
                blocks.append([])
        elif kind == "bash" and line.strip() and not line.lstrip().startswith("#"):
            commands = blocks[-1]
            if commands and commands[-1].endswith("\\"):
                commands[-1] += "\n" + line
            else:
                commands.append(line)
    return [block for block in blocks if block]


def test_bash_blocks_parser() -> None:
    text = (
        "## A\n\nintro\n\n```bash\n# a comment\n.venv/bin/python x.py \\\n    --a 1\necho b\n```\n"
        "```text\nnot run\n```\n### A.1\n```bash\necho c\n```\n## B\n```bash\necho d\n```\n"
    )
    assert bash_blocks("A", text) == [[".venv/bin/python x.py \\\n    --a 1", "echo b"], ["echo c"]]
    assert bash_blocks("A.1", text) == [["echo c"]]
    with pytest.raises(AssertionError, match="no heading 'C'"):
        bash_blocks("C", text)


@dataclass
class Done:
    """One command of the document as it ran."""

    command: str
    returncode: int
    stdout: str
    stderr: str

    def __repr__(self) -> str:  # what an assertion shows: the whole run
        return f"$ {self.command}\n[exit {self.returncode}]\n{self.stdout}\n{self.stderr}"


class Shell:
    """The reader's shell: variables they set, and those the document's commands export, carry
    over from one block to the next; each block runs in one bash from the project root."""

    def __init__(self, state_dir: Path, **variables: str) -> None:
        self.state = state_dir / "shell.env"
        self.variables = dict(variables)
        folder = os.environ.get(TRANSCRIPTS_ENV)
        self.transcript = Path(folder) / f"{state_dir.name}.txt" if folder else None

    def run(self, commands: list[str]) -> list[Done]:
        """Run one block's commands; return each one's exit code and output."""
        script = ["umask 077"]  # the state file below holds what the commands exported
        for i, command in enumerate(commands):
            script.append(f"printf '\\n{_MARK} {i}\\n'; printf '\\n{_MARK} {i}\\n' >&2")
            script.append(command)
            script.append(f"printf '\\n{_MARK} rc %s\\n' \"$?\"")
        # The connections' passwords stay out of it: they come from the test, not the commands.
        script.append(f"env -0 | grep -zv '^AIRFLOW_CONN_' > {shlex.quote(str(self.state))}")
        env = {**os.environ, **self.variables}
        done = subprocess.run(
            ["bash", "-c", "\n".join(script)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
            env=env,
            check=False,
        )
        after = dict(
            item.split("=", 1) for item in self.state.read_text().split("\0") if "=" in item
        )
        self.state.unlink()
        self.variables.update(
            {k: v for k, v in after.items() if env.get(k) != v and k not in ("_", "SHLVL", "PWD")}
        )
        outs = re.split(rf"\n{_MARK} \d+\n", done.stdout)[1:]
        errs = re.split(rf"\n{_MARK} \d+\n", done.stderr)[1:]
        results = []
        for command, out, err in zip(commands, outs, errs, strict=True):
            ended = re.fullmatch(rf"(?s)(.*)\n{_MARK} rc (\d+)\n", out)
            assert ended, out
            results.append(Done(command, int(ended[2]), ended[1], err))
        if self.transcript is not None:
            with self.transcript.open("a", encoding="utf-8") as out:
                out.writelines(f"{result!r}\n" for result in results)
        return results


def the(results: list[Done], *words: str) -> Done:
    """The only result whose command holds all ``words``."""
    found = [r for r in results if all(w in r.command for w in words)]
    assert len(found) == 1, (words, [r.command for r in results])
    return found[0]


# ------------------------------------------------------------------------------------------
# Connections as the document names them
# ------------------------------------------------------------------------------------------


def define_connections(
    monkeypatch: pytest.MonkeyPatch, account: OnCall | Account, **ports: int
) -> None:
    """Define ``conn_id=port`` Airflow connections as ``account`` (passwords nowhere else)."""
    for name in [n for n in os.environ if n.startswith("MMC_RUNBOOK_PASSWORD")]:
        monkeypatch.delenv(name)
    for conn_id, port in ports.items():
        as_json = Account(account.user, port=port, password=account.password).conn_json()
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", as_json)


def no_password_shown(results: list[Done], *passwords: str) -> None:
    for result in results:
        for password in passwords:
            assert password not in result.command + result.stdout + result.stderr


# ------------------------------------------------------------------------------------------
# A primary with a binary log, Chinook and a backup
# ------------------------------------------------------------------------------------------


@dataclass
class BackedUp:
    """A primary (binary log on) holding Chinook, backed up by the DAGs' backup job."""

    server: MySQLInstance
    location: str  # the backup location URL (backup.location)
    oncall: OnCall
    backed_up_at: dt.datetime

    def sql(self, statement: str, args: Any = None) -> list[tuple[Any, ...]]:
        return self.server.execute(statement, args)


@contextlib.contextmanager
def backed_up_primary(base: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[BackedUp]:
    """Start the primary, load Chinook, take the nightly backup as the maintenance account."""
    from maintenance_ops.core.config import BackupSettings, MaintenanceSettings
    from maintenance_ops.core.session import MaintenanceSession
    from maintenance_ops.recovery.backup import take_backup

    with MySQLInstance(InstanceSpec(binlog=True), base_dir=base / "primary") as server:
        load_chinook(SCHEMA, server.url())
        maintenance = create_account(server.execute, [SCHEMA], "_maintenance", port=server.port)
        oncall = create_oncall(server.execute, server.port, schemas=[SCHEMA])
        location = (base / "backups").as_uri()
        monkeypatch.setenv(f"AIRFLOW_CONN_{MAINTENANCE.upper()}", maintenance.conn_json())
        with MaintenanceSession(MAINTENANCE, MaintenanceSettings()) as session:
            take_backup(
                session,
                conn_id=MAINTENANCE,
                database_name="default",
                schemas=[SCHEMA],
                history_schema="_maintenance",
                settings=BackupSettings(enabled=True, location=location),
            )
        backed_up_at = dt.datetime.now(dt.UTC).replace(microsecond=0)
        define_connections(monkeypatch, oncall, **{PRIMARY: server.port})
        yield BackedUp(server, location, oncall, backed_up_at)


def next_second() -> None:
    """Sleep into the next whole second (binary log times are whole seconds)."""
    time.sleep(1.05 - (time.time() % 1))


@contextlib.contextmanager
def kept_server(results: list[Done]) -> Iterator[tuple[int, str]]:
    """The --keep server the restore printed (port, folder); stopped with its printed command."""
    out = "\n".join(r.stdout for r in results)
    left = re.search(
        r"private server left running: 127\.0\.0\.1:(\d+), .*root's password: (\S+)/root\.cnf", out
    )
    stop = re.search(r"stop it and remove its files when done: (.+)", out)
    try:
        assert left and stop, out
        yield int(left[1]), left[2]
    finally:
        if stop:
            subprocess.run(["bash", "-c", stop[1]], timeout=60, check=False, capture_output=True)


def kept_rows(port: int, folder: str, sql: str) -> list[tuple[Any, ...]]:
    """Query the --keep server as its root, whose login the restore left in ``root.cnf``."""
    conn = MySQLdb.connect(
        host="127.0.0.1", port=port, read_default_file=f"{folder}/root.cnf", connect_timeout=10
    )
    try:
        cursor = conn.cursor()
        cursor.execute(sql)
        return list(cursor.fetchall())
    finally:
        conn.close()


def _invoice_lines(server: MySQLInstance) -> dict[int, tuple[Any, ...]]:
    rows = server.execute(
        f"SELECT InvoiceLineId, InvoiceId, TrackId, UnitPrice, Quantity FROM {SCHEMA}.InvoiceLine"
    )
    return {int(r[0]): tuple(r[1:]) for r in rows}


# ------------------------------------------------------------------------------------------
# Incident 1: a bad DELETE
# ------------------------------------------------------------------------------------------


def test_bad_delete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Find the DELETE, restore to just before it into a throwaway server, copy the rows back:
    the deleted rows come back exactly, the rows written after the damage stay."""
    with backed_up_primary(tmp_path, monkeypatch) as primary:
        # After the backup: good work, then (a second later) the bad DELETE, then more work.
        primary.sql(f"INSERT INTO {SCHEMA}.InvoiceLine VALUES (2241, 1, 1, 0.99, 7)")
        next_second()
        original = _invoice_lines(primary.server)
        primary.sql(f"DELETE FROM {SCHEMA}.InvoiceLine WHERE InvoiceId BETWEEN 100 AND 150")
        deleted = {k: v for k, v in original.items() if 100 <= v[0] <= 150}
        assert deleted and len(_invoice_lines(primary.server)) == len(original) - len(deleted)
        next_second()
        primary.sql(f"INSERT INTO {SCHEMA}.InvoiceLine VALUES (2242, 2, 2, 0.99, 9)")
        primary.sql(f"UPDATE {SCHEMA}.InvoiceLine SET Quantity = 5 WHERE InvoiceLineId = 1")
        after_damage = _invoice_lines(primary.server)

        heading = "Incident: rows deleted or damaged by mistake"
        find, restore, copy, verify = bash_blocks(heading)
        shell = Shell(
            tmp_path,
            TABLE=f"{SCHEMA}.InvoiceLine",
            SINCE=f"{primary.backed_up_at:{TIME_FORMAT}}",
            BACKUPS=primary.location,
        )
        found = shell.run(find)
        listing = found[-1]
        assert listing.returncode == 0, listing
        damage = re.search(
            r"UTC  (binlog\.\d+) (\d+)-\d+ GTID \S+  DELETE (\d+) rows: DELETE FROM .*\n"
            r"\s+before it: --until '([^']+)'.*\n"
            r"\s+exactly before it: --stop-position (\S+)\n",
            listing.stdout,
        )
        assert damage and int(damage[3]) == len(deleted), listing
        assert damage[5] == f"{damage[1]}:{damage[2]}"  # the doc's STOP_POSITION
        assert "INSERT 1 rows: INSERT INTO" in listing.stdout  # the good work is listed too
        shell.variables["UNTIL"] = damage[4]

        restored = shell.run(restore)
        dry, real = restored
        assert dry.returncode == 0 and "DRY RUN" in dry.stdout, dry
        assert real.returncode == 0, real
        with kept_server(restored) as (port, kept):
            shell.variables.update(PORT=str(port), KEPT=kept)
            copied = shell.run(copy)
            for result in copied:
                assert result.returncode == 0, result
            dry_copy = the(copied, "copy-back", "--dry-run")
            assert f"{len(deleted)} missing on production (would be copied)" in dry_copy.stdout
            assert "on both sides, left alone:" in dry_copy.stdout
            assert "(1 identical" not in dry_copy.stdout  # InvoiceLineId 1 changed after
            assert "different on production (check by hand): InvoiceLineId=1" in dry_copy.stdout
            (verified,) = shell.run(verify)
            assert verified.returncode == 0 and "0 missing on production" in verified.stdout, (
                verified
            )
            lines = _invoice_lines(primary.server)
        assert lines == {**after_damage, **deleted}  # the lost rows back, the later work kept
        assert lines[1][3] == 5 and 2242 in lines
        no_password_shown(found + restored + copied, primary.oncall.password)


# ------------------------------------------------------------------------------------------
# Incidents 2 and 3: the primary is lost, or reachable but to be replaced
# ------------------------------------------------------------------------------------------


def _seed_pair(pair: ReplicationPair, monkeypatch: pytest.MonkeyPatch) -> OnCall:
    pair.primary_sql("CREATE DATABASE app")
    pair.primary_sql("CREATE TABLE app.orders (id INT PRIMARY KEY, v INT NOT NULL)")
    pair.primary_sql("INSERT INTO app.orders VALUES (1, 10)")
    pair.primary_sql(f"CREATE USER '{APP_USER}'@'127.0.0.1'")
    pair.primary_sql(f"GRANT ALL ON app.* TO '{APP_USER}'@'127.0.0.1'")
    oncall = create_oncall(pair.primary_sql, pair.primary.port)
    pair.sync()
    define_connections(
        monkeypatch, oncall, **{PRIMARY: pair.primary.port, REPLICA: pair.replica.port}
    )
    return oncall


def _app_insert(port: int, row_id: int) -> None:
    conn = MySQLdb.connect(host="127.0.0.1", port=port, user=APP_USER, connect_timeout=5)
    try:
        conn.autocommit(True)
        conn.cursor().execute("INSERT INTO app.orders VALUES (%s, 1)", (row_id,))
    finally:
        conn.close()


def test_lost_primary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The primary is down: status says so, the failover promotes the replica, which takes
    the application's writes and holds everything the primary committed."""
    with replication_pair() as pair:
        oncall = _seed_pair(pair, monkeypatch)
        pair.primary_sql("INSERT INTO app.orders VALUES (2, 20), (3, 30)")
        pair.sync()
        committed = sorted(pair.primary_sql("SELECT id, v FROM app.orders"))
        pair.primary.stop()

        look, failover, verify = bash_blocks("Incident: the primary is down")
        shell = Shell(tmp_path)
        looked = shell.run(look)
        down = the(looked, "status", PRIMARY)
        assert down.returncode == 2 and "cannot connect" in down.stderr, down
        replica = the(looked, "status", REPLICA)
        assert "replication:" in replica.stdout, replica

        promoted = shell.run(failover)
        dry, real = promoted
        assert dry.returncode == 0 and "DRY RUN: nothing will be changed" in dry.stdout, dry
        assert "nothing fences the old primary" in dry.stdout, dry
        assert real.returncode == 0 and "failover to replica: done" in real.stdout, real
        assert f"127.0.0.1:{pair.primary.port} -> 127.0.0.1:{pair.replica.port}" in real.stdout

        checked = shell.run(verify)
        new = the(checked, "status", REPLICA)
        assert "read_only=OFF" in new.stdout and "not a replica" in new.stdout, new
        _app_insert(pair.replica.port, 4)
        rows = sorted(pair.replica_sql("SELECT id, v FROM app.orders"))
        assert rows == [*committed, (4, 1)]
        no_password_shown(looked + promoted + checked, oncall.password)


@contextlib.contextmanager
def writers(pair: ReplicationPair) -> Iterator[tuple[Writer, Writer]]:
    """An application writing on each server (rows 10000+ on the primary, 50000+ on the
    replica) from half a second before the caller's block until the replica took a row."""
    both = (Writer(pair.primary.port, 10_000, 1), Writer(pair.replica.port, 50_000, 2))
    for writer in both:
        writer.start()
    try:
        time.sleep(0.5)
        yield both
        # Both keep trying against the new topology until the promoted one took a row.
        deadline = time.monotonic() + 15
        while not both[1].committed and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
    finally:
        for writer in both:
            writer.stop.set()
            writer.join(timeout=10)


def test_reachable_primary_is_fenced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The primary is up and writing while the failover runs: it is fenced, takes no row after
    the fence, and every row it took is on the promoted replica."""
    with replication_pair() as pair:
        oncall = _seed_pair(pair, monkeypatch)
        dry_block, run, verify = bash_blocks("Incident: the primary is up but must be replaced")
        shell = Shell(tmp_path)
        with writers(pair) as (on_primary, on_replica):
            dry = shell.run(dry_block)
            assert dry[-1].returncode == 0, dry[-1]
            assert "fence the old primary" in dry[-1].stdout
            assert pair.primary_sql("SELECT @@GLOBAL.read_only")[0][0] == 0  # the dry run
            done = shell.run(run)
            finished = time.monotonic()
        real = done[-1]
        assert real.returncode == 0, real
        fenced = re.search(
            r"fenced: \{'read_only': True\}; ended (\d+) client sessions?", real.stdout
        )
        assert fenced and int(fenced[1]) >= 1, real  # the writer's session was ended
        assert on_primary.committed and on_replica.committed
        old = dict(pair.primary_sql("SELECT id, v FROM app.orders"))
        new = dict(pair.replica_sql("SELECT id, v FROM app.orders"))
        assert {k: v for k, v in new.items() if k in old} == old  # nothing the old one took lost
        assert not [t for _, t in on_primary.committed if t > finished]
        assert _ER_READ_ONLY in on_primary.errors  # the fence refused its later writes
        assert not [k for k in old if k >= 50_000]

        checked = shell.run(verify)
        assert "read_only=ON" in the(checked, "status", PRIMARY).stdout
        new_status = the(checked, "status", REPLICA).stdout
        assert "read_only=OFF" in new_status and "not a replica" in new_status
        no_password_shown(dry + done + checked, oncall.password)


# ------------------------------------------------------------------------------------------
# Incident 4: a runaway query
# ------------------------------------------------------------------------------------------


class Query(threading.Thread):
    """A client running one long statement as ``user``; records how it ended."""

    def __init__(self, port: int, user: str, sql: str) -> None:
        super().__init__(daemon=True)
        self.port, self.user, self.sql = port, user, sql
        self.outcome: str = "running"
        self.session_alive = False
        self.thread_id = 0

    def run(self) -> None:
        conn = MySQLdb.connect(host="127.0.0.1", port=self.port, user=self.user)
        self.thread_id = conn.thread_id()
        try:
            try:
                self.outcome = f"finished: {conn.cursor().execute(self.sql)} rows"
            except MySQLdb.Error as exc:
                self.outcome = f"error {exc.args[0]}"
            with contextlib.suppress(MySQLdb.Error):
                conn.cursor().execute("SELECT 1")
                self.session_alive = True
        finally:
            with contextlib.suppress(MySQLdb.Error):
                conn.close()


def test_runaway_query(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A report's query runs away: the dry run lists it and kills nothing, --kill ends the
    statement (the session stays), another user's long query is left alone."""
    with MySQLInstance(InstanceSpec()) as server:
        load_chinook(SCHEMA, server.url())
        for user in ("reporting", "batch"):
            server.execute(f"CREATE USER '{user}'@'127.0.0.1'")
            server.execute(f"GRANT SELECT ON {SCHEMA}.* TO '{user}'@'127.0.0.1'")
        oncall = create_oncall(server.execute, server.port)
        define_connections(monkeypatch, oncall, **{PRIMARY: server.port})
        report = Query(server.port, "reporting", f"SELECT SLEEP(600) FROM {SCHEMA}.Genre LIMIT 1")
        batch = Query(server.port, "batch", "SELECT SLEEP(600)")
        report.start()
        batch.start()
        try:
            time.sleep(2.2)  # both run past the limit the test gives
            shell = Shell(tmp_path, MAX_S="2", RUNAWAY_USER="reporting")
            look, kill, verify = bash_blocks("Incident: runaway queries")
            looked = shell.run(look)
            status = the(looked, "status")
            assert status.returncode == 0 and "longest query:" in status.stdout, status
            listed = the(looked, "runaway")
            assert listed.returncode == 0, listed
            assert "reporting@" in listed.stdout and "batch@" in listed.stdout, listed
            killed = shell.run(kill)
            dry, real = killed
            assert dry.returncode == 0 and "reporting@" in dry.stdout, dry
            assert "batch@" not in dry.stdout and "killed" not in dry.stdout, dry
            assert real.returncode == 0, real
            assert re.findall(r"killed: #(\d+)", real.stdout) == [str(report.thread_id)], real
            report.join(timeout=10)
            assert report.outcome == "error 1317" and report.session_alive  # KILL QUERY
            assert batch.is_alive()  # another user's query: not ours to kill
            checked = shell.run(verify)
            assert "reporting@" not in the(checked, "runaway").stdout
        finally:
            for user in ("batch", "reporting"):
                with contextlib.suppress(MySQLdb.Error):
                    server.execute(f"KILL USER {user}")
            batch.join(timeout=10)
            report.join(timeout=10)
        no_password_shown(looked + killed + checked, oncall.password)


def test_writes_must_stop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """read-only on: the dry run changes nothing, the real run stops the application's writes
    (reads go on); status shows it; read-only off gives writes back."""
    with MySQLInstance(InstanceSpec()) as server:
        server.execute("CREATE DATABASE app")
        server.execute("CREATE TABLE app.orders (id INT PRIMARY KEY, v INT NOT NULL)")
        server.execute(f"CREATE USER '{APP_USER}'@'127.0.0.1'")
        server.execute(f"GRANT ALL ON app.* TO '{APP_USER}'@'127.0.0.1'")
        oncall = create_oncall(server.execute, server.port)
        define_connections(monkeypatch, oncall, **{PRIMARY: server.port})
        switch, verify, give_back = bash_blocks("Incident: writes must stop now")
        shell = Shell(tmp_path)
        switched = shell.run(switch)
        dry, real = switched
        assert dry.returncode == 0 and "before: read_only=OFF" in dry.stdout, dry
        assert real.returncode == 0 and "after: read_only=ON" in real.stdout, real
        with pytest.raises(MySQLdb.OperationalError) as refused:
            _app_insert(server.port, 1)
        assert refused.value.args[0] == _ER_READ_ONLY
        (status,) = shell.run(verify)
        assert "read-only:     read_only=ON" in status.stdout, status
        (back,) = shell.run(give_back)
        assert back.returncode == 0 and "after: read_only=OFF" in back.stdout, back
        _app_insert(server.port, 2)
        assert server.execute("SELECT id FROM app.orders") == [(2,)]
        no_password_shown([*switched, status, back], oncall.password)


def test_dropped_database_restored_onto_a_replacement(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DROP DATABASE after more work: the restore onto an empty replacement server (as its
    administrator) brings the backup and the later work back, up to just before the drop."""
    with (
        backed_up_primary(tmp_path, monkeypatch) as primary,
        MySQLInstance(InstanceSpec(), base_dir=tmp_path / "replacement") as replacement,
    ):
        primary.sql(f"INSERT INTO {SCHEMA}.InvoiceLine VALUES (2241, 1, 1, 0.99, 7)")
        next_second()
        until = dt.datetime.now(dt.UTC).strftime(TIME_FORMAT)
        primary.sql(f"DROP DATABASE {SCHEMA}")
        administrator = Account("root", port=replacement.port, password=replacement.password)
        define_connections(monkeypatch, administrator, mysql_restore_target=replacement.port)
        restore, verify = bash_blocks("Incident: a database was dropped, or no replica is left")
        shell = Shell(tmp_path, BACKUPS=primary.location, UNTIL=until)
        restored = shell.run(restore)
        dry, real = restored
        assert dry.returncode == 0 and "holds no user schemas" in dry.stdout, dry
        assert real.returncode == 0 and "achieved recovery point: " in real.stdout, real
        (status,) = shell.run(verify)
        assert status.returncode == 0 and "read_only=OFF" in status.stdout, status
        count = f"SELECT COUNT(*), MAX(InvoiceLineId) FROM {SCHEMA}.InvoiceLine"
        assert replacement.execute(count) == [(2241, 2241)]
        assert replacement.execute(f"SELECT COUNT(*) FROM {SCHEMA}.Track") == [(3503,)]
        no_password_shown([*restored, status], primary.oncall.password, replacement.password)


# ------------------------------------------------------------------------------------------
# Incidents 5 and 6: a purged binary log; accounts changed in the replay range
# ------------------------------------------------------------------------------------------


def _binlog_position(server: MySQLInstance) -> str:
    """The primary's current binary log position: where its next transaction starts."""
    file, position = server.execute("SHOW MASTER STATUS")[0][:2]
    return f"{file}:{position}"


def purge_to(server: MySQLInstance, newest: str) -> None:
    """Purge the binary logs before ``newest`` (retried: MariaDB keeps a file until its
    binlog checkpoint moved on, which happens shortly after the FLUSH)."""
    deadline = time.monotonic() + 30
    while len(server.execute("SHOW BINARY LOGS")) > 1:
        assert time.monotonic() < deadline, f"binary logs before {newest} could not be purged"
        server.execute("PURGE BINARY LOGS TO %s", (newest,))
        time.sleep(0.2)


def test_purged_binlog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The binary log after the backup was purged: the dry run refuses naming it, before
    anything; the restore of the backup alone, as the document says next, works."""
    with backed_up_primary(tmp_path, monkeypatch) as primary:
        first = _binlog_position(primary.server).split(":")[0]
        primary.sql(f"INSERT INTO {SCHEMA}.InvoiceLine VALUES (2241, 1, 1, 0.99, 7)")
        primary.sql("FLUSH BINARY LOGS")
        primary.sql("FLUSH BINARY LOGS")
        purge_to(primary.server, _binlog_position(primary.server).split(":")[0])
        next_second()
        until = dt.datetime.now(dt.UTC).strftime(TIME_FORMAT)
        primary.sql(f"DELETE FROM {SCHEMA}.InvoiceLine WHERE InvoiceLineId > 2200")
        refuse, fallback = bash_blocks("Incident: a binary log the restore needs was purged")
        shell = Shell(tmp_path, BACKUPS=primary.location, UNTIL=until)
        (refused,) = shell.run(refuse)
        assert refused.returncode == 1, refused
        assert "refused: " in refused.stderr and first in refused.stderr, refused
        assert "restore without --until" in refused.stderr, refused
        assert "[1/" not in refused.stdout  # before any step
        restored = shell.run(fallback)
        dry, real = restored
        assert dry.returncode == 0 and "DRY RUN" in dry.stdout, dry
        assert real.returncode == 0, real
        assert "achieved recovery point: the backup's snapshot" in real.stdout, real
        with kept_server(restored) as (port, folder):
            # The backup's rows: 2241 came after it and is lost with the purged log.
            count = f"SELECT COUNT(*), MAX(InvoiceLineId) FROM {SCHEMA}.InvoiceLine"
            assert kept_rows(port, folder, count) == [(2240, 2240)]
        no_password_shown([refused, *restored], primary.oncall.password)


def test_accounts_changed_in_the_replay_range(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CREATE USER and a GRANT after the backup: the replay leaves them out, finishes, and
    lists them (no password shown); the data around them is replayed."""
    with backed_up_primary(tmp_path, monkeypatch) as primary:
        secret = "Rep0rting-secret"
        primary.sql(f"CREATE USER 'reporting'@'%' IDENTIFIED BY '{secret}'")
        primary.sql(f"GRANT SELECT ON {SCHEMA}.* TO 'reporting'@'%'")
        primary.sql(f"INSERT INTO {SCHEMA}.InvoiceLine VALUES (2241, 1, 1, 0.99, 7)")
        stop = _binlog_position(primary.server)
        primary.sql(f"DELETE FROM {SCHEMA}.InvoiceLine WHERE InvoiceLineId > 2200")
        (block,) = bash_blocks("Incident: accounts changed after the backup")
        shell = Shell(tmp_path, BACKUPS=primary.location, STOP_POSITION=stop)
        restored = shell.run(block)
        (real,) = restored
        assert real.returncode == 0, real
        assert "2 account statements skipped" in real.stdout, real
        assert re.search(r"CREATE USER 'reporting'@'%' at binlog\.\d+:\d+ \(", real.stdout), real
        assert re.search(r"GRANT 'reporting'@'%' at binlog\.\d+:\d+ \(", real.stdout), real
        with kept_server(restored) as (port, folder):
            count = f"SELECT COUNT(*), MAX(InvoiceLineId) FROM {SCHEMA}.InvoiceLine"
            assert kept_rows(port, folder, count) == [(2241, 2241)]  # up to, not with, the DELETE
        no_password_shown(restored, primary.oncall.password, secret)
