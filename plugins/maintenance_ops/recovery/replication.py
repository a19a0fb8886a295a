"""Judge whether one replica is ready to take over from its primary.

:func:`check_replica` runs five checks, each a
:class:`~maintenance_ops.recovery.restore.Check` with the evidence a person needs:

``threads``
    both replication threads run (a stopped SQL thread names ``Slave_SQL_Running`` and
    ``Last_SQL_Error``);
``lag``
    the replica applies what the primary has committed within the threshold: the primary's
    GTID position is read, and the replica is given up to the threshold to apply it (a real
    measure, unlike ``Seconds_Behind_Master``, which is also reported and also held to it);
``read_only``
    ``read_only`` is ON, so nothing but replication writes to it;
``advancing``
    a heartbeat row written on the primary (``<schema>.replication_heartbeat``, schema
    ``_maintenance`` by default) arrives on the replica and moves its GTID position;
``consistency``
    once the replica has applied the primary's position, ``CHECKSUM TABLE`` of each sample
    table is equal on both (tables written to during the comparison are retried).

Collecting (functions that talk to a server, and may wait) is separate from deciding
(``decide_*``: pure functions of what was collected). :func:`replica_caught_up` is the pure
decision the failover runbook uses before promoting a replica.

Connections are DB-API MySQLdb connections with autocommit on. The only write is the
heartbeat row on the primary (and the heartbeat schema and table, created if missing).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

from maintenance_ops.core import sqlexec
from maintenance_ops.core.dialect import Dialect, parse_version
from maintenance_ops.core.exceptions import ConfigError
from maintenance_ops.core.identifiers import qualified, quote_identifier, validate_identifier
from maintenance_ops.recovery.restore import Check

log = logging.getLogger(__name__)

DEFAULT_SCHEMA = "_maintenance"
HEARTBEAT_TABLE = "replication_heartbeat"
CHECKSUM_ATTEMPTS = 3
POLL_INTERVAL_S = 0.05
_ER_NO_SUCH_TABLE = 1146
_ER_BAD_DB = 1049


# --------------------------------------------------------------------------------------------
# What was observed
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class LogPosition:
    """A place in the primary's binary log: file name and byte offset."""

    file: str
    pos: int

    def __str__(self) -> str:
        return f"{self.file}:{self.pos}"


@dataclass(frozen=True)
class ReplicaStatus:
    """The replica status statement's row, reduced to what the checks read."""

    configured: bool
    io_running: str = ""
    sql_running: str = ""
    seconds_behind: float | None = None
    last_io_error: str = ""
    last_sql_error: str = ""
    source_host: str = ""
    source_port: int | None = None
    received: LogPosition | None = None  # read by the I/O thread
    executed: LogPosition | None = None  # applied by the SQL thread
    io_field: str = "Slave_IO_Running"
    sql_field: str = "Slave_SQL_Running"
    lag_field: str = "Seconds_Behind_Master"

    @property
    def running(self) -> bool:
        """Return whether both replication threads run."""
        return self.io_running == "Yes" and self.sql_running == "Yes"

    @property
    def relay_pending(self) -> bool | None:
        """Return whether received events wait to be applied (None when unknown)."""
        if self.received is None or self.executed is None:
            return None
        return self.executed < self.received


@dataclass(frozen=True)
class LagObservation:
    """How far behind the replica was, and how long it took to apply the primary's position."""

    primary_position: str
    replica_position: str
    transactions_behind: int
    seconds_behind: float | None
    caught_up_in_s: float | None  # None: not applied within the wait
    waited_s: float
    sql_running: bool = True


@dataclass(frozen=True)
class AdvanceObservation:
    """A heartbeat written on the primary and whether (and when) the replica applied it."""

    beat: int
    primary_position: str
    replica_before: str
    replica_after: str
    arrived_in_s: float | None  # None: not seen within the timeout
    timeout_s: float


@dataclass(frozen=True)
class TableComparison:
    """``CHECKSUM TABLE`` of one sample table on the primary and on the replica."""

    table: str
    primary_checksum: int | None = None
    replica_checksum: int | None = None
    primary_exists: bool = True
    replica_exists: bool = True
    stable: bool = True  # the primary's position did not move during the comparison
    error: str = ""


# --------------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------------


@dataclass
class ReplicaReadiness:
    """Whether one replica could take over, with every check's evidence."""

    replica: str
    ok: bool
    checks: list[Check]
    lag_s: float | None = None
    seconds_behind: float | None = None
    transactions_behind: int | None = None
    primary_position: str = ""
    replica_position_before: str = ""
    replica_position_after: str = ""
    duration_s: float = 0.0

    @property
    def failed(self) -> list[Check]:
        """Return the checks that failed."""
        return [c for c in self.checks if c.status == "fail"]

    def check(self, name: str) -> Check:
        """Return the check called ``name``."""
        return next(c for c in self.checks if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict (for XCom and reports)."""
        data = asdict(self)
        data["checks"] = [c.to_dict() for c in self.checks]
        return data


@dataclass(frozen=True)
class CatchUp:
    """Whether a replica has everything its primary committed, and why (or why not)."""

    caught_up: bool
    reason: str
    transactions_behind: int | None = None


# --------------------------------------------------------------------------------------------
# Deciding (pure)
# --------------------------------------------------------------------------------------------


def decide_threads(status: ReplicaStatus) -> Check:
    """Pass when both replication threads run; name the stopped one and its last error."""
    if not status.configured:
        return Check("threads", "fail", "not a replica: the replica status statement is empty")
    evidence = f"{status.io_field}={status.io_running}, {status.sql_field}={status.sql_running}"
    if status.running:
        return Check("threads", "pass", evidence)
    errors = [
        f"{name}: {text}"
        for name, text in (
            ("Last_IO_Error", status.last_io_error),
            ("Last_SQL_Error", status.last_sql_error),
        )
        if text
    ]
    if status.sql_running != "Yes" and not status.last_sql_error:
        errors.append("Last_SQL_Error: (empty: the SQL thread was stopped, not failed)")
    return Check("threads", "fail", "; ".join([evidence, *errors]))


def decide_lag(observed: LagObservation, threshold_s: float) -> tuple[Check, float | None]:
    """Return the lag check and the lag in seconds (None when it exceeded the wait).

    The lag is the longer of ``Seconds_Behind_Master`` and the time the replica took to apply
    the primary's position; both must be within ``threshold_s``.
    """
    sbm = observed.seconds_behind
    sbm_text = f"Seconds_Behind_Master={'NULL' if sbm is None else f'{sbm:g}'}"
    where = (
        f"primary {observed.primary_position or '(empty)'}, "
        f"replica {observed.replica_position or '(empty)'}"
    )
    if observed.caught_up_in_s is None:
        why = (
            "the SQL thread is stopped"
            if not observed.sql_running
            else f"it did not within {observed.waited_s:.1f}s"
        )
        return Check(
            "lag",
            "fail",
            f"replica is {observed.transactions_behind} transactions behind the primary "
            f"({where}) and {why}: lag > {threshold_s:g}s; {sbm_text}",
        ), None
    lag = max(observed.caught_up_in_s, sbm or 0.0)
    evidence = (
        f"applied the primary's position in {observed.caught_up_in_s:.2f}s "
        f"({observed.transactions_behind} transactions behind at first; {where}); {sbm_text}"
    )
    if not observed.primary_position:
        evidence += "; the primary reports no GTID position, so only Seconds_Behind_Master counts"
    if sbm is None and observed.transactions_behind == 0 and not observed.sql_running:
        return Check("lag", "fail", f"lag unknown: the SQL thread is stopped; {evidence}"), None
    status: Literal["pass", "fail"] = "pass" if lag <= threshold_s else "fail"
    sign = "<=" if status == "pass" else ">"
    return Check("lag", status, f"lag {lag:.2f}s {sign} {threshold_s:g}s: {evidence}"), lag


def decide_read_only(values: Mapping[str, bool]) -> Check:
    """Pass when ``read_only`` is ON; ``super_read_only`` (MySQL) is reported as evidence."""
    evidence = ", ".join(f"{name}={'ON' if on else 'OFF'}" for name, on in values.items())
    if values.get("read_only"):
        return Check("read_only", "pass", evidence)
    return Check(
        "read_only",
        "fail",
        f"{evidence}: clients can write to the replica and make it drift from the primary; "
        "SET GLOBAL read_only = ON",
    )


def decide_advancing(observed: AdvanceObservation) -> Check:
    """Pass when the heartbeat reached the replica and its GTID position moved."""
    moved = (
        f"replica position {observed.replica_before or '(empty)'} -> "
        f"{observed.replica_after or '(empty)'}"
    )
    if observed.arrived_in_s is None:
        return Check(
            "advancing",
            "fail",
            f"heartbeat {observed.beat} written on the primary (position "
            f"{observed.primary_position}) did not reach the replica within "
            f"{observed.timeout_s:g}s; {moved}",
        )
    if observed.primary_position and observed.replica_before == observed.replica_after:
        return Check(
            "advancing",
            "fail",
            f"heartbeat {observed.beat} arrived but the replica's GTID position did not move; "
            f"{moved}",
        )
    return Check(
        "advancing",
        "pass",
        f"heartbeat {observed.beat} reached the replica in {observed.arrived_in_s:.2f}s; {moved}",
    )


def decide_consistency(comparisons: Sequence[TableComparison]) -> Check:
    """Fail naming every sample table whose checksum differs, is missing, or was not compared."""
    if not comparisons:
        return Check("consistency", "skipped", "no sample tables configured")
    equal, problems, unsettled = [], [], []
    for c in comparisons:
        if c.error:
            problems.append(f"{c.table}: {c.error}")
        elif not c.primary_exists:
            problems.append(f"{c.table} does not exist on the primary (fix sample_tables)")
        elif not c.replica_exists:
            problems.append(f"{c.table} is missing on the replica")
        elif c.primary_checksum == c.replica_checksum:
            equal.append(f"{c.table}={c.primary_checksum}")
        elif c.stable:
            problems.append(
                f"{c.table} differs: checksum {c.primary_checksum} on the primary, "
                f"{c.replica_checksum} on the replica"
            )
        else:
            unsettled.append(c.table)
    parts = []
    if equal:
        parts.append(f"equal: {', '.join(equal)}")
    if unsettled:
        parts.append(
            f"not compared (the primary was written to during all {CHECKSUM_ATTEMPTS} attempts): "
            f"{', '.join(unsettled)}"
        )
    if problems:
        return Check("consistency", "fail", "; ".join(problems + parts))
    if not equal:
        return Check("consistency", "skipped", "; ".join(parts))
    return Check("consistency", "pass", "; ".join(parts))


def replica_caught_up(
    dialect: Dialect, status: ReplicaStatus, replica_position: str, primary_position: str | None
) -> CatchUp:
    """Decide whether a replica holds everything its primary committed.

    With the primary's GTID position (``primary_position``, None or empty when the primary is
    unreachable or has none), the replica must have applied all of it. Without it, the replica
    must at least have applied everything it received; what it never received is unknowable.
    """
    if not status.configured:
        return CatchUp(False, "the server is not a replica (replica status is empty)")
    sbm = "NULL" if status.seconds_behind is None else f"{status.seconds_behind:g}"
    lag = f"{status.lag_field}={sbm}"
    if primary_position:
        behind = dialect.gtid_missing(primary_position, replica_position)
        where = f"primary at {primary_position}, replica applied {replica_position or '(empty)'}"
        if behind == 0:
            return CatchUp(True, f"caught up with the primary ({where}; {lag})", 0)
        return CatchUp(False, f"{behind} transactions behind the primary ({where}; {lag})", behind)
    note = "the primary was not checked, so transactions it never sent are not counted"
    if status.relay_pending is None:
        return CatchUp(False, f"cannot tell: the replica status shows no log positions; {note}")
    if status.relay_pending:
        return CatchUp(
            False,
            f"behind: received the primary's log up to {status.received} but applied only up "
            f"to {status.executed} ({lag}); {note}",
        )
    return CatchUp(True, f"applied everything it received (up to {status.executed}; {lag}); {note}")


# --------------------------------------------------------------------------------------------
# Collecting (I/O)
# --------------------------------------------------------------------------------------------


def _rows(conn: Any, sql: str, args: Sequence[object] = ()) -> list[dict[str, Any]]:
    return sqlexec.dicts(conn, sql, args)


def _scalar(conn: Any, sql: str, args: Sequence[object] = ()) -> Any:
    found = sqlexec.rows(conn, sql, args)
    return found[0][0] if found else None


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return "" if value is None else str(value)


def server_dialect(conn: Any) -> Dialect:
    """Return the dialect of the server behind ``conn``."""
    row = _rows(conn, "SELECT VERSION() AS version, @@version_comment AS comment")[0]
    return Dialect(parse_version(_text(row["version"]), _text(row["comment"])))


def read_replica_status(conn: Any, dialect: Dialect) -> ReplicaStatus:
    """Read the replica status statement into a :class:`ReplicaStatus`."""
    rows = _rows(conn, dialect.replica_status_sql())
    if not rows:
        return ReplicaStatus(configured=False)
    row, f = rows[0], dialect.replica_fields()

    def position(file_field: str, pos_field: str) -> LogPosition | None:
        name, pos = _text(row.get(file_field)), row.get(pos_field)
        return LogPosition(name, int(pos)) if name and pos is not None else None

    lag, port = row.get(f.seconds_behind), row.get(f.source_port)
    return ReplicaStatus(
        configured=True,
        io_running=_text(row.get(f.io_running)),
        sql_running=_text(row.get(f.sql_running)),
        seconds_behind=None if lag is None else float(lag),
        last_io_error=_text(row.get("Last_IO_Error")),
        last_sql_error=_text(row.get("Last_SQL_Error")),
        source_host=_text(row.get(f.source_host)),
        source_port=None if port is None else int(port),
        received=position(f.read_file, f.read_pos),
        executed=position(f.exec_file, f.exec_pos),
        io_field=f.io_running,
        sql_field=f.sql_running,
        lag_field=f.seconds_behind,
    )


def read_gtid_position(conn: Any, dialect: Dialect, role: Literal["primary", "replica"]) -> str:
    """Return a server's GTID position (see :meth:`Dialect.gtid_position_sql`)."""
    return " ".join(_text(_scalar(conn, dialect.gtid_position_sql(role))).split())


def read_read_only(conn: Any, dialect: Dialect) -> dict[str, bool]:
    """Return the server's read-only variables and whether each is ON."""
    names = dialect.read_only_variables()
    sql = "SELECT " + ", ".join(f"@@GLOBAL.{name}" for name in names)
    row = _rows(conn, sql)[0]
    return {name: bool(int(value)) for name, value in zip(names, row.values(), strict=True)}


def wait_for_position(
    replica: Any, dialect: Dialect, position: str, timeout_s: float
) -> tuple[bool, float]:
    """Wait until ``replica`` has applied GTID ``position``; return (reached, seconds waited)."""
    started = time.monotonic()
    result = _scalar(replica, *dialect.gtid_wait_sql(position, timeout_s))
    return dialect.gtid_wait_reached(result), time.monotonic() - started


def wait_until_caught_up(
    replica: Any, dialect: Dialect, primary_position: str | None, timeout_s: float
) -> bool:
    """Wait up to ``timeout_s`` for the replica to catch up; return whether it did.

    With the primary's position, wait for the replica to apply it; without, for the replica to
    apply everything it has received.
    """
    if primary_position:
        return wait_for_position(replica, dialect, primary_position, timeout_s)[0]
    deadline = time.monotonic() + timeout_s
    while True:
        if read_replica_status(replica, dialect).relay_pending is False:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_INTERVAL_S)


def heartbeat_table(schema: str = DEFAULT_SCHEMA) -> str:
    """Return the quoted name of the heartbeat table in ``schema``."""
    return qualified(validate_identifier(schema, "heartbeat schema"), HEARTBEAT_TABLE)


def heartbeat_upsert_sql(schema: str, server_id: int) -> tuple[str, tuple[object, ...]]:
    """Return the statement that bumps ``server_id``'s heartbeat row."""
    return (
        f"INSERT INTO {heartbeat_table(schema)} (server_id, beat, written_at) "  # noqa: S608
        "VALUES (%s, 1, UTC_TIMESTAMP(6)) "
        "ON DUPLICATE KEY UPDATE beat = beat + 1, written_at = UTC_TIMESTAMP(6)",
        (server_id,),
    )


def heartbeat_select_sql(schema: str, server_id: int) -> tuple[str, tuple[object, ...]]:
    """Return the query that reads ``server_id``'s heartbeat number."""
    table = heartbeat_table(schema)
    return f"SELECT beat FROM {table} WHERE server_id = %s", (server_id,)  # noqa: S608


def write_heartbeat(conn: Any, schema: str = DEFAULT_SCHEMA) -> tuple[int, int]:
    """Bump this server's heartbeat row (creating schema and table if missing).

    Return ``(server_id, beat)``; the write also proves the server accepts writes.
    """
    table = heartbeat_table(schema)
    _scalar(conn, f"CREATE DATABASE IF NOT EXISTS {quote_identifier(schema)}")
    _scalar(
        conn,
        f"CREATE TABLE IF NOT EXISTS {table} ("
        "server_id INT UNSIGNED NOT NULL PRIMARY KEY, beat BIGINT UNSIGNED NOT NULL, "
        "written_at DATETIME(6) NOT NULL) ENGINE=InnoDB",
    )
    server_id = int(_scalar(conn, "SELECT @@GLOBAL.server_id"))
    _scalar(conn, *heartbeat_upsert_sql(schema, server_id))
    return server_id, int(_scalar(conn, *heartbeat_select_sql(schema, server_id)))


def read_heartbeat(conn: Any, server_id: int, schema: str = DEFAULT_SCHEMA) -> int | None:
    """Return the heartbeat ``server_id`` wrote as seen on ``conn``, None if not there yet."""
    import MySQLdb

    try:
        beat = _scalar(conn, *heartbeat_select_sql(schema, server_id))
    except MySQLdb.ProgrammingError as exc:
        if exc.args and exc.args[0] in (_ER_NO_SUCH_TABLE, _ER_BAD_DB):
            return None  # The CREATE has not been replicated yet.
        raise
    return None if beat is None else int(beat)


def table_checksum(conn: Any, table: tuple[str, str]) -> int | None:
    """Return ``CHECKSUM TABLE`` of ``(schema, table)``, None when the table does not exist."""
    import MySQLdb

    try:
        row = _rows(conn, f"CHECKSUM TABLE {qualified(*table)}")
    except MySQLdb.ProgrammingError as exc:
        if exc.args and exc.args[0] in (_ER_NO_SUCH_TABLE, _ER_BAD_DB):
            return None
        raise
    value = row[0].get("Checksum") if row else None
    return None if value is None else int(value)


def parse_sample_tables(sample_tables: Sequence[str]) -> list[tuple[str, str]]:
    """Validate ``schema.table`` names, raising ConfigError naming the bad one."""
    if isinstance(sample_tables, str):
        raise ConfigError(
            f"sample_tables must be a list of 'schema.table' names, not the string "
            f"{sample_tables!r}"
        )
    parsed = []
    for name in sample_tables:
        schema, dot, table = str(name).partition(".")
        if not dot:
            raise ConfigError(f"sample table {name!r} must be written as 'schema.table'")
        parsed.append(
            (
                validate_identifier(schema, f"schema of sample table {name!r}"),
                validate_identifier(table, f"sample table {name!r}"),
            )
        )
    return parsed


# --------------------------------------------------------------------------------------------
# Running the checks
# --------------------------------------------------------------------------------------------


@dataclass
class _Pair:
    primary: Any
    replica: Any
    primary_dialect: Dialect
    replica_dialect: Dialect

    def primary_position(self) -> str:
        return read_gtid_position(self.primary, self.primary_dialect, "primary")

    def replica_position(self) -> str:
        return read_gtid_position(self.replica, self.replica_dialect, "replica")


def _measure_lag(pair: _Pair, status: ReplicaStatus, wait_s: float) -> LagObservation:
    """Read both positions and give the replica up to ``wait_s`` to apply the primary's."""
    started = time.monotonic()
    primary = pair.primary_position()
    replica = pair.replica_position()
    behind = pair.replica_dialect.gtid_missing(primary, replica)
    caught_up_in: float | None = 0.0 if behind == 0 else None
    waited = 0.0
    if behind and status.sql_running == "Yes":
        reached, waited = wait_for_position(pair.replica, pair.replica_dialect, primary, wait_s)
        caught_up_in = time.monotonic() - started if reached else None
    return LagObservation(
        primary_position=primary,
        replica_position=replica,
        transactions_behind=behind,
        seconds_behind=status.seconds_behind,
        caught_up_in_s=caught_up_in,
        waited_s=waited,
        sql_running=status.sql_running == "Yes",
    )


def _observe_advancing(pair: _Pair, schema: str, timeout_s: float) -> AdvanceObservation:
    """Write a heartbeat on the primary and poll the replica until it arrives or time is up."""
    before = pair.replica_position()
    server_id, beat = write_heartbeat(pair.primary, schema)
    written = time.monotonic()
    primary = pair.primary_position()
    arrived: float | None = None
    while True:
        seen = read_heartbeat(pair.replica, server_id, schema)
        if seen is not None and seen >= beat:
            arrived = time.monotonic() - written
            break
        if time.monotonic() - written >= timeout_s:
            break
        time.sleep(POLL_INTERVAL_S)
    return AdvanceObservation(beat, primary, before, pair.replica_position(), arrived, timeout_s)


def _compare_table(pair: _Pair, table: tuple[str, str], timeout_s: float) -> TableComparison:
    """Checksum one table on the primary, wait for the replica to apply that state, compare.

    A difference counts only when the primary's position stayed put from its checksum until
    the replica's; otherwise the comparison is retried.
    """
    name = ".".join(table)
    result = TableComparison(name, stable=False)
    for _ in range(CHECKSUM_ATTEMPTS):
        before = pair.primary_position()
        on_primary = table_checksum(pair.primary, table)
        position = pair.primary_position()
        if position != before:
            continue
        if on_primary is None:
            return TableComparison(name, primary_exists=False)
        reached, waited = wait_for_position(pair.replica, pair.replica_dialect, position, timeout_s)
        if not reached:
            return TableComparison(
                name,
                on_primary,
                error=f"replica did not apply the primary's position {position} within "
                f"{waited:.1f}s, so it was not compared",
            )
        on_replica = table_checksum(pair.replica, table)
        stable = pair.primary_position() == position
        result = TableComparison(
            name, on_primary, on_replica, replica_exists=on_replica is not None, stable=stable
        )
        if stable or on_primary == on_replica:
            return result
    return result


def check_replica(
    primary_conn: Any,
    replica_conn: Any,
    *,
    replica_name: str,
    lag_threshold_s: float,
    sample_tables: Sequence[str],
    wait_timeout_s: float = 30.0,
    schema: str = DEFAULT_SCHEMA,
) -> ReplicaReadiness:
    """Check whether the replica behind ``replica_conn`` is ready to replace its primary.

    :param primary_conn: autocommit MySQLdb connection to the primary (a heartbeat row is
        written to it).
    :param replica_conn: autocommit MySQLdb connection to the replica.
    :param replica_name: the replica's name in the result and the log.
    :param lag_threshold_s: the most lag (seconds) that passes; also how long the replica is
        given to apply the primary's current position.
    :param sample_tables: ``schema.table`` names compared with ``CHECKSUM TABLE``; each is
        read in full on both servers, so name small or important tables.
    :param wait_timeout_s: how long the heartbeat and the consistency check wait for the
        replica.
    :param schema: schema of the heartbeat table, created on the primary when missing.
    """
    if lag_threshold_s < 0 or wait_timeout_s <= 0:
        raise ConfigError(
            f"lag_threshold_s ({lag_threshold_s}) must be >= 0 and wait_timeout_s "
            f"({wait_timeout_s}) > 0"
        )
    tables = parse_sample_tables(sample_tables)
    heartbeat_table(schema)  # validates the schema name before anything is written
    started = time.monotonic()
    pair = _Pair(
        primary_conn, replica_conn, server_dialect(primary_conn), server_dialect(replica_conn)
    )
    status = read_replica_status(replica_conn, pair.replica_dialect)
    checks = [decide_threads(status)]
    lag_seen = _measure_lag(pair, status, lag_threshold_s) if status.configured else None
    lag_s = None
    if lag_seen is None:
        checks.append(Check("lag", "fail", "not a replica: no lag to measure"))
    else:
        lag_check, lag_s = decide_lag(lag_seen, lag_threshold_s)
        checks.append(lag_check)
    checks.append(decide_read_only(read_read_only(replica_conn, pair.replica_dialect)))
    advance = None
    if status.running:
        advance = _observe_advancing(pair, schema, wait_timeout_s)
        checks.append(decide_advancing(advance))
        comparisons = [_compare_table(pair, t, wait_timeout_s) for t in tables]
        checks.append(decide_consistency(comparisons))
    else:
        why = "replication threads are not running (see the threads check)"
        checks += [Check("advancing", "skipped", why), Check("consistency", "skipped", why)]
    # The heartbeat moved the primary on; report the newest position that was checked.
    latest_primary = advance.primary_position if advance else ""
    if not latest_primary and lag_seen is not None:
        latest_primary = lag_seen.primary_position
    result = ReplicaReadiness(
        replica=replica_name,
        ok=not any(c.status == "fail" for c in checks),
        checks=checks,
        lag_s=None if lag_s is None else round(lag_s, 3),
        seconds_behind=status.seconds_behind,
        transactions_behind=lag_seen.transactions_behind if lag_seen else None,
        primary_position=latest_primary,
        replica_position_before=lag_seen.replica_position if lag_seen else "",
        replica_position_after=pair.replica_position(),
        duration_s=round(time.monotonic() - started, 3),
    )
    log.info(
        "Replica %s: %s (%s) lag_s=%s in %.2fs",
        replica_name,
        "ready" if result.ok else "NOT ready",
        ", ".join(f"{c.name}={c.status}" for c in checks),
        result.lag_s,
        result.duration_s,
    )
    return result


# --------------------------------------------------------------------------------------------
# Fencing a primary before a failover
# --------------------------------------------------------------------------------------------

# Threads a fence leaves alone: the server's own, and replicas reading its binary log (the
# replica to promote must still receive the last transactions).
SYSTEM_USERS = ("system user", "event_scheduler", "unauthenticated user")
BINLOG_READER_COMMANDS = ("Binlog Dump", "Binlog Dump GTID", "Daemon")
_ER_NO_SUCH_THREAD = 1094


def client_sessions_sql() -> tuple[str, tuple[object, ...]]:
    """Return the process-list query for every client session but this one and the spared ones."""
    return (
        "SELECT ID, USER, HOST, COMMAND FROM information_schema.PROCESSLIST"
        " WHERE ID <> CONNECTION_ID() AND USER NOT IN (%s, %s, %s)"
        " AND COMMAND NOT IN (%s, %s, %s) ORDER BY ID",
        (*SYSTEM_USERS, *BINLOG_READER_COMMANDS),
    )


@dataclass(frozen=True)
class Session:
    """A client session of a server (who, from where), as a fence ends it."""

    id: int
    user: str
    host: str

    def __str__(self) -> str:
        return f"#{self.id} {self.user}@{self.host}"


def client_sessions(conn: Any) -> list[Session]:
    """Return the server's client sessions (every one but this, its own threads, binlog readers)."""
    return [
        Session(int(r["ID"]), _text(r["USER"]), _text(r["HOST"]))
        for r in _rows(conn, *client_sessions_sql())
    ]


def end_sessions(conn: Any, sessions: Sequence[Session]) -> list[Session]:
    """``KILL CONNECTION`` each session; return those ended (a session already gone is skipped)."""
    import MySQLdb

    ended = []
    for session in sessions:
        try:
            sqlexec.execute(conn, "KILL CONNECTION %s", (session.id,))
        except MySQLdb.OperationalError as exc:
            if exc.args and exc.args[0] == _ER_NO_SUCH_THREAD:
                continue
            raise
        ended.append(session)
    return ended
