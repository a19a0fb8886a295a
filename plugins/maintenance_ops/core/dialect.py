"""Every MySQL-vs-MariaDB difference the package knows about, as data in one place.

Nothing else in the package branches on the server flavor: ask the :class:`Dialect`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from maintenance_ops.core.exceptions import PreflightError

Flavor = Literal["mariadb", "mysql"]

# MariaDB 10.x sent "5.5.5-" before its real version to old replication clients.
_VERSION = re.compile(r"^(?:5\.5\.5-)?(\d+)\.(\d+)\.(\d+)")


@dataclass(frozen=True, order=True)
class ServerVersion:
    """A server's flavor and numeric version, parsed from ``SELECT VERSION()``."""

    flavor: Flavor
    major: int
    minor: int
    patch: int
    raw: str = ""

    def at_least(self, major: int, minor: int = 0, patch: int = 0) -> bool:
        """Return whether this version is ``major.minor.patch`` or newer."""
        return (self.major, self.minor, self.patch) >= (major, minor, patch)

    def __str__(self) -> str:
        return f"{self.flavor} {self.major}.{self.minor}.{self.patch}"


def parse_version(version: str, version_comment: str = "") -> ServerVersion:
    """Parse ``VERSION()`` (and ``@@version_comment`` when given) into a :class:`ServerVersion`.

    >>> parse_version("11.4.8-MariaDB-ubu2404-log")
    ServerVersion(flavor='mariadb', major=11, minor=4, patch=8, raw='11.4.8-MariaDB-ubu2404-log')
    """
    match = _VERSION.match(version.strip())
    if not match:
        raise PreflightError(
            f"cannot read server version {version!r}: this package supports MySQL 5.7+/8.x "
            "and MariaDB 10.3+"
        )
    flavor: Flavor = "mariadb" if "mariadb" in (version + version_comment).lower() else "mysql"
    major, minor, patch = (int(g) for g in match.groups())
    return ServerVersion(flavor, major, minor, patch, version)


@dataclass(frozen=True)
class ReplicaFields:
    """Column names of the replica status statement, which both flavors renamed over time."""

    io_running: str
    sql_running: str
    seconds_behind: str
    last_error: str
    source_host: str
    source_port: str = "Master_Port"
    # Where the I/O thread has read the source's binary log up to, and where the SQL thread
    # has applied it up to: equal once the replica has applied all it received.
    read_file: str = "Master_Log_File"
    read_pos: str = "Read_Master_Log_Pos"
    exec_file: str = "Relay_Master_Log_File"
    exec_pos: str = "Exec_Master_Log_Pos"


_SLAVE_FIELDS = ReplicaFields(
    "Slave_IO_Running", "Slave_SQL_Running", "Seconds_Behind_Master", "Last_Error", "Master_Host"
)
_REPLICA_FIELDS = ReplicaFields(
    "Replica_IO_Running",
    "Replica_SQL_Running",
    "Seconds_Behind_Source",
    "Last_Error",
    "Source_Host",
    "Source_Port",
    "Source_Log_File",
    "Read_Source_Log_Pos",
    "Relay_Source_Log_File",
    "Exec_Source_Log_Pos",
)


@dataclass(frozen=True)
class ReplicaStatus:
    """One row of the replica status statement, read with the version's column names."""

    io_running: bool
    sql_running: bool
    seconds_behind: float | None
    last_error: str
    source_host: str
    source_port: int | None
    read_file: str
    read_pos: int | None
    exec_file: str
    exec_pos: int | None


@dataclass(frozen=True)
class BinlogStatus:
    """The binary log position of a primary (``SHOW BINARY LOG STATUS`` and its old names).

    ``gtid_set`` is MySQL's ``Executed_Gtid_Set`` (empty with ``gtid_mode=OFF``); MariaDB's
    row has no GTID column (its position is ``@@gtid_binlog_pos``), so it is empty there.
    """

    file: str
    position: int
    gtid_set: str = ""


def _int_or_none(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


# Statement keywords: the first word of a statement, after any leading comments.
_LEADING_COMMENTS = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|#[^\n]*(?:\n|$)|/\*.*?\*/)*", re.S)
# Statements that need no time limit of ours: session settings, status reads, kills.
_UNBOUNDED_KEYWORDS = frozenset({"SET", "SHOW", "KILL", "USE", "COMMIT", "ROLLBACK", "BEGIN"})
# Plugins whose empty authentication_string means "no password" (MySQL 8 defaults to the
# caching_sha2_password plugin; sha256_password is its predecessor; MariaDB's default
# mysql_native_password, and '' for accounts created without a plugin on old versions).
_EMPTY_PASSWORD_PLUGINS = {
    "mariadb": ("mysql_native_password", ""),
    "mysql": ("mysql_native_password", "caching_sha2_password", "sha256_password", ""),
}


@dataclass(frozen=True)
class LockCatalog:
    """A server catalog that lists the sessions holding metadata locks on one table.

    ``available_sql`` returns one row whose ``available`` is non-zero when the catalog can be
    read and is filled; ``holders_file`` (``include/sql``) lists the holders of one table
    (bound: schema, table) as ``thread_id``, ``user_name``, ``command``, ``age_s``,
    ``lock_status``.
    """

    name: str
    available_sql: str
    holders_file: str


# MariaDB's metadata_lock_info plugin (not installed by default: INSTALL SONAME
# 'metadata_lock_info'): granted locks only, THREAD_ID is the connection id.
METADATA_LOCK_INFO = LockCatalog(
    "information_schema.METADATA_LOCK_INFO",
    "SELECT COUNT(*) AS available FROM information_schema.PLUGINS "
    "WHERE PLUGIN_NAME = 'METADATA_LOCK_INFO' AND PLUGIN_STATUS = 'ACTIVE'",
    "mdl_holders_mariadb",
)
# performance_schema.metadata_locks: MySQL 5.7+ and MariaDB 10.5.2+; filled only while
# performance_schema=ON and the instrument is enabled (on by default in MySQL 8.0, off in
# MariaDB). With performance_schema=OFF setup_instruments is empty, so this says 0.
PERFORMANCE_SCHEMA_METADATA_LOCKS = LockCatalog(
    "performance_schema.metadata_locks",
    "SELECT COUNT(*) AS available FROM performance_schema.setup_instruments "
    "WHERE NAME = 'wait/lock/metadata/sql/mdl' AND ENABLED = 'YES'",
    "mdl_holders",
)


def statement_keyword(sql: str) -> str:
    """Return a statement's first keyword in upper case, leading comments skipped (pure)."""
    rest = sql[_LEADING_COMMENTS.match(sql).end() :]  # type: ignore[union-attr]
    word = re.match(r"[A-Za-z]+", rest)
    return word.group(0).upper() if word else ""


@dataclass(frozen=True)
class Dialect:
    """What differs between MySQL and MariaDB for one server version."""

    version: ServerVersion

    @property
    def is_mariadb(self) -> bool:
        return self.version.flavor == "mariadb"

    def statement_timeout(self, seconds: float) -> tuple[str, tuple[object, ...]]:
        """Return the SET statement that caps one statement's run time (0 = no limit).

        MariaDB's ``max_statement_time`` is in seconds and covers every statement; MySQL's
        ``max_execution_time`` is in milliseconds and covers read-only SELECTs only.
        """
        if self.is_mariadb:
            return "SET SESSION max_statement_time = %s", (float(seconds),)
        return "SET SESSION max_execution_time = %s", (int(seconds * 1000),)

    def session_setup_sql(
        self, lock_wait_s: float, innodb_lock_wait_s: float, statement_timeout_s: float
    ) -> list[tuple[str, tuple[object, ...]]]:
        """Return the SET statements a maintenance session runs once connected.

        MySQL 8 caches ``information_schema.TABLES``/``STATISTICS`` figures for
        ``information_schema_stats_expiry`` seconds (a day by default): stale-statistics
        selection, fragmentation and sizes would read day-old numbers, so the session asks for
        live ones (``0``). MariaDB reads them live and has no such variable.
        """
        statements: list[tuple[str, tuple[object, ...]]] = [
            (
                "SET SESSION lock_wait_timeout = %s, innodb_lock_wait_timeout = %s",
                (lock_wait_s, innodb_lock_wait_s),
            )
        ]
        if not self.is_mariadb and self.version.at_least(8):
            statements.append(("SET SESSION information_schema_stats_expiry = 0", ()))
        if statement_timeout_s:
            statements.append(self.statement_timeout(statement_timeout_s))
        return statements

    def statement_limit_covers(self, sql: str) -> bool:
        """Return whether the server's own statement time limit bounds ``sql``.

        MariaDB's ``max_statement_time`` bounds every statement. MySQL's
        ``max_execution_time`` bounds only read-only SELECTs: rebuilds, CHECK/ANALYZE TABLE and
        cleanup's writes need the session's own time limit (a KILL QUERY from a second
        connection, :mod:`maintenance_ops.core.watchdog`). Session settings, SHOW and KILL need
        none.
        """
        if self.is_mariadb:
            return True
        keyword = statement_keyword(sql)
        return keyword in ("SELECT", "WITH") or keyword in _UNBOUNDED_KEYWORDS

    # ---- catalog names that moved between versions -----------------------------------------

    @property
    def innodb_tablespaces_table(self) -> str:
        """``information_schema`` table of InnoDB tablespaces (renamed in MySQL 8.0)."""
        return "INNODB_TABLESPACES" if self._mysql8 else "INNODB_SYS_TABLESPACES"

    @property
    def innodb_tablestats_table(self) -> str:
        """``information_schema`` table of InnoDB's in-memory table statistics (renamed in 8.0)."""
        return "INNODB_TABLESTATS" if self._mysql8 else "INNODB_SYS_TABLESTATS"

    @property
    def catalog_names(self) -> dict[str, str]:
        """The version-dependent table names the SQL files take as ``{placeholders}``."""
        return {
            "innodb_tablespaces": self.innodb_tablespaces_table,
            "innodb_tablestats": self.innodb_tablestats_table,
        }

    @property
    def _mysql8(self) -> bool:
        return not self.is_mariadb and self.version.at_least(8)

    # ---- health metrics and the security audit ---------------------------------------------

    def deadlocks_sql(self) -> str:
        """Return the SELECT of the server's deadlock count since start (``deadlocks``, ``status``).

        MariaDB (and Percona Server) count them in the status variable ``Innodb_deadlocks``;
        MySQL has no such variable, only InnoDB's ``lock_deadlocks`` metric in
        ``information_schema.INNODB_METRICS``, which counts only while its ``STATUS`` is
        ``enabled`` (the default).
        """
        if self.is_mariadb:
            return (
                "SELECT VARIABLE_VALUE AS deadlocks, 'enabled' AS status "
                "FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'INNODB_DEADLOCKS'"
            )
        return (
            "SELECT `COUNT` AS deadlocks, STATUS AS status FROM information_schema.INNODB_METRICS "
            "WHERE NAME = 'lock_deadlocks'"
        )

    @property
    def security_accounts_sql(self) -> str:
        """Name of the SQL file listing the accounts the security audit examines.

        MariaDB lists roles in ``mysql.user`` with an empty host and ``is_role='Y'``; MySQL 8
        lists them as locked accounts with an expired, empty password, told apart from users
        by ``mysql.role_edges`` (a role granted to someone), and has no ``is_role`` column.
        """
        return "health_security_accounts" if self.is_mariadb else "health_security_accounts_mysql"

    @property
    def empty_password_plugins(self) -> tuple[str, ...]:
        """Authentication plugins for which an empty ``authentication_string`` means no password."""
        return _EMPTY_PASSWORD_PLUGINS[self.version.flavor]

    # ---- privileges granted through roles ---------------------------------------------------

    def enabled_roles_sql(self) -> str | None:
        """Return the SELECT listing the session's enabled roles, or None (not checked).

        MySQL 8.0.19+ has ``information_schema.ENABLED_ROLES`` (ROLE_NAME, ROLE_HOST). Its
        ``*_PRIVILEGES`` tables list an account's own grants only, so a role's privileges are
        read with ``SHOW GRANTS FOR CURRENT_USER() USING role, ...`` (:meth:`grants_using_sql`),
        which the manual documents for exactly this. MariaDB's roles (``SET ROLE``) are not
        read: the preflight counts the account's own grants there.
        """
        if self.is_mariadb or not self.version.at_least(8, 0, 19):
            return None
        return (
            "SELECT ROLE_NAME AS role_name, ROLE_HOST AS role_host "
            "FROM information_schema.ENABLED_ROLES ORDER BY ROLE_NAME, ROLE_HOST"
        )

    @staticmethod
    def grants_using_sql(roles: list[tuple[str, str]]) -> tuple[str, tuple[object, ...]]:
        """Return ``SHOW GRANTS`` for the current user with the roles' privileges merged in."""
        using = ", ".join("%s@%s" for _ in roles)
        args = tuple(part for role in roles for part in role)
        return f"SHOW GRANTS FOR CURRENT_USER() USING {using}", args

    # ---- online DDL and metadata locks ------------------------------------------------------

    @property
    def ddl_nowait(self) -> bool:
        """Whether ``ALTER TABLE ... NOWAIT`` exists: the DDL never waits for a metadata lock.

        MariaDB 10.3+ takes ``[WAIT n|NOWAIT]`` after the table name: NOWAIT makes the
        statement's ``lock_wait_timeout`` 0 both when it starts and at its final lock upgrade,
        and it fails at once with error 1205 (ER_LOCK_WAIT_TIMEOUT) instead of queueing. MySQL
        has no WAIT/NOWAIT for DDL.
        """
        return self.is_mariadb and self.version.at_least(10, 3)

    def ddl_lock_wait(self, seconds: int, *, nowait: bool) -> tuple[str, int | None]:
        """Return how a DDL waits for its metadata lock: ``(clause, session lock_wait_timeout)``.

        The clause goes after the table name (MariaDB: ``NOWAIT`` or ``WAIT n``); without one
        the session's ``lock_wait_timeout`` (whole seconds, at least 1: MySQL's minimum) bounds
        the wait, and None means the session's value is left alone.

        :param seconds: the longest wait when not ``nowait``.
        :param nowait: never wait, where the server can say so (:attr:`ddl_nowait`).
        """
        wait_s = max(1, int(seconds))
        if not self.ddl_nowait:
            return "", wait_s
        return ("NOWAIT", None) if nowait else (f"WAIT {wait_s}", None)

    def metadata_lock_catalogs(self) -> tuple[LockCatalog, ...]:
        """The catalogs that can name a table's metadata-lock holders, in the order to try.

        MariaDB: the metadata_lock_info plugin's table, then performance_schema.metadata_locks
        (10.5.2+, when its instrument is enabled); MySQL: performance_schema.metadata_locks.
        """
        if not self.is_mariadb:
            return (PERFORMANCE_SCHEMA_METADATA_LOCKS,)
        if self.version.at_least(10, 5, 2):
            return (METADATA_LOCK_INFO, PERFORMANCE_SCHEMA_METADATA_LOCKS)
        return (METADATA_LOCK_INFO,)

    # ---- statistics --------------------------------------------------------------------------

    def analyze_waits_for_long_transactions(self) -> bool:
        """Whether ``ANALYZE TABLE`` may queue queries behind a long transaction.

        Before MySQL 8.0.24 ANALYZE TABLE flushed the table from the table definition cache,
        which waits for every running statement and transaction that uses the table while new
        queries queue behind the flush; 8.0.24 removed the flush.
        """
        return not self.is_mariadb and not self.version.at_least(8, 0, 24)

    def full_statistics_sql(self, table_sql: str, columns_sql: list[str]) -> list[str]:
        """Return the statements that refresh a table's statistics and build its histograms.

        MariaDB's ``PERSISTENT FOR COLUMNS (...) INDEXES ALL`` refreshes both in one
        statement; MySQL's ``UPDATE HISTOGRAM`` builds histograms only, so a plain ANALYZE
        TABLE (index statistics) runs first.
        """
        if self.is_mariadb:
            return [self.histogram_sql(table_sql, columns_sql)]
        return [f"ANALYZE TABLE {table_sql}", self.histogram_sql(table_sql, columns_sql)]

    def histogram_session_settings(self, buckets: int) -> dict[str, Any]:
        """Return the session variables that make MariaDB build useful histograms.

        JSON_HB (10.8+) keeps exact bucket bounds; older versions get DOUBLE_PREC_HB. MySQL
        takes its bucket count in the statement and needs none.
        """
        if not self.is_mariadb:
            return {}
        kind = "JSON_HB" if self.version.at_least(10, 8) else "DOUBLE_PREC_HB"
        return {"histogram_size": buckets, "histogram_type": kind}

    def histogram_count_sql(self) -> str:
        """Return the SELECT counting a table's columns with a stored histogram (schema, table)."""
        if self.is_mariadb:
            return (
                "SELECT COUNT(*) AS n FROM mysql.column_stats WHERE db_name = %s "
                "AND table_name = %s AND histogram IS NOT NULL"
            )
        return (
            "SELECT COUNT(*) AS n FROM information_schema.COLUMN_STATISTICS "
            "WHERE SCHEMA_NAME = %s AND TABLE_NAME = %s"
        )

    # ---- replication and binary logs ---------------------------------------------------------

    def binlog_status_sql(self) -> str:
        """Return the statement that shows a primary's current binary log position.

        MySQL 8.2 added ``SHOW BINARY LOG STATUS`` and 8.4 removed ``SHOW MASTER STATUS``;
        MariaDB 10.5.2 added ``SHOW BINLOG STATUS`` (SHOW MASTER STATUS stays as an alias).
        """
        if self.is_mariadb:
            return "SHOW BINLOG STATUS" if self.version.at_least(10, 5, 2) else "SHOW MASTER STATUS"
        return "SHOW BINARY LOG STATUS" if self.version.at_least(8, 2) else "SHOW MASTER STATUS"

    @staticmethod
    def binlog_status(row: Mapping[str, Any]) -> BinlogStatus:
        """Read one row of :meth:`binlog_status_sql` (same columns under every name)."""
        gtids = str(row.get("Executed_Gtid_Set") or "").replace("\n", "")
        return BinlogStatus(str(row["File"]), int(row["Position"]), gtids)

    def replica_status(self, row: Mapping[str, Any]) -> ReplicaStatus:
        """Read one row of :meth:`replica_status_sql` with this version's column names."""
        f = self.replica_fields()
        lag = row.get(f.seconds_behind)
        return ReplicaStatus(
            io_running=row.get(f.io_running) == "Yes",
            sql_running=row.get(f.sql_running) == "Yes",
            seconds_behind=float(lag) if lag is not None and lag != "" else None,
            last_error=str(
                row.get(f.last_error) or row.get("Last_SQL_Error") or row.get("Last_IO_Error") or ""
            ),
            source_host=str(row.get(f.source_host) or ""),
            source_port=_int_or_none(row.get(f.source_port)),
            read_file=str(row.get(f.read_file) or ""),
            read_pos=_int_or_none(row.get(f.read_pos)),
            exec_file=str(row.get(f.exec_file) or ""),
            exec_pos=_int_or_none(row.get(f.exec_pos)),
        )

    def replica_status_sql(self) -> str:
        """Return the statement that shows replication state on a replica."""
        if self.is_mariadb:
            return "SHOW REPLICA STATUS" if self.version.at_least(10, 5, 1) else "SHOW SLAVE STATUS"
        return "SHOW REPLICA STATUS" if self.version.at_least(8, 0, 22) else "SHOW SLAVE STATUS"

    def replica_fields(self) -> ReplicaFields:
        """Return the replica status column names this version uses."""
        if not self.is_mariadb and self.version.at_least(8, 0, 22):
            return _REPLICA_FIELDS
        return _SLAVE_FIELDS  # MariaDB kept the old column names under the new statement.

    def histogram_sql(self, table_sql: str, columns_sql: list[str]) -> str:
        """Return the statement that builds histograms on already-quoted columns."""
        cols = ", ".join(columns_sql)
        if self.is_mariadb:
            return f"ANALYZE TABLE {table_sql} PERSISTENT FOR COLUMNS ({cols}) INDEXES ALL"
        return f"ANALYZE TABLE {table_sql} UPDATE HISTOGRAM ON {cols} WITH 100 BUCKETS"

    @property
    def has_sys_schema(self) -> bool:
        """MySQL ships ``sys`` since 5.7; MariaDB since 10.6."""
        if self.is_mariadb:
            return self.version.at_least(10, 6)
        return self.version.at_least(5, 7)

    # ---- backup, restore and replay tools ---------------------------------------------------

    @property
    def dump_tool(self) -> str:
        """The logical dump tool of this flavor: the default ``backup.tool``."""
        return "mariadb-dump" if self.is_mariadb else "mysqldump"

    @property
    def binlog_tool(self) -> str:
        """The tool that prints this flavor's binary logs (each reads only its own events)."""
        return "mariadb-binlog" if self.is_mariadb else "mysqlbinlog"

    @property
    def client_tool(self) -> str:
        """The command-line client that loads dumps and replays binary logs into this flavor."""
        return "mariadb" if self.is_mariadb else "mysql"

    @property
    def server_install_hint(self) -> str:
        """What to install for a private server of this flavor (restore tests, PITR drills)."""
        if self.is_mariadb:
            return "install MariaDB Server (mariadbd): apt-get install mariadb-server"
        return (
            f"install MySQL Server {self.version.major}.{self.version.minor} (mysqld) from "
            "Oracle's MySQL APT/YUM repository (package mysql-server or mysql-community-server)"
            ", or point server_binary= at such a mysqld"
        )

    @property
    def client_install_hint(self) -> str:
        """What to install for this flavor's client programs (dump, binlog and client tools)."""
        if self.is_mariadb:
            return "install MariaDB's client programs: apt-get install mariadb-client"
        return (
            "install MySQL's client programs (package mysql-client or mysql-community-client "
            f"{self.version.major}.{self.version.minor}) ahead of MariaDB's in $PATH"
        )

    def backup_tool_problem(self, tool: str, *, binlog: bool) -> str | None:
        """Return why ``tool`` cannot back this server up, or None when it can.

        mariabackup copies MariaDB's InnoDB files and does not support MySQL 8's (new redo log
        and data dictionary); Percona XtraBackup does, but this package does not drive it.
        MariaDB's dump tool asks a binary-logging server for ``SHOW MASTER STATUS``, which
        MySQL 8.4 removed.
        """
        if tool == "mariabackup" and not self.is_mariadb and self.version.at_least(8):
            return (
                f"mariabackup cannot back up {self.version}: it does not support MySQL 8's "
                "InnoDB files. Set backup.tool to mysqldump (the default on MySQL) or mydumper; "
                "Percona XtraBackup is not supported by this package"
            )
        if (
            tool == "mariadb-dump"
            and not self.is_mariadb
            and binlog
            and self.version.at_least(8, 4)
        ):
            return (
                f"mariadb-dump cannot record the binary log position of {self.version}: it sends "
                "SHOW MASTER STATUS, removed in MySQL 8.4. Set backup.tool to mysqldump or mydumper"
            )
        return None

    def dump_binlog_args(self, *, source_data: bool, gtid_purged: bool) -> list[str]:
        """Return the dump tool's options that record the snapshot's binary log position.

        Both write the position as a comment (``=2``). MariaDB's ``--gtid`` adds the GTID
        position (``gtid_slave_pos``, written at the end of the dump). MySQL's mysqldump
        8.0.26+ calls ``--master-data`` ``--source-data`` (the old name is deprecated);
        ``source_data`` says the installed tool knows it. On MySQL the GTID set is written
        commented out (``--set-gtid-purged=COMMENTED``, when ``gtid_purged`` says the tool
        knows the option): the manifest records it, and the dump then loads into any server,
        GTID mode or not, without the privilege that setting ``gtid_purged`` needs.
        """
        if self.is_mariadb:
            return ["--master-data=2", "--gtid"]
        args = ["--source-data=2" if source_data else "--master-data=2"]
        return [*args, "--set-gtid-purged=COMMENTED"] if gtid_purged else args

    # ---- replaying binary logs (point-in-time recovery) -------------------------------------

    def replay_state_sql(self) -> str:
        """Return the statement reading what decides whether a replay may keep the source's GTIDs.

        MariaDB: ``log_bin``, ``gtid_strict_mode`` and ``gtid_binlog_pos``; MySQL: ``gtid_mode``.
        """
        names = (
            ("log_bin", "gtid_strict_mode", "gtid_binlog_pos")
            if self.is_mariadb
            else ("log_bin", "gtid_mode")
        )
        quoted = ", ".join(f"'{name}'" for name in names)
        return f"SHOW GLOBAL VARIABLES WHERE Variable_name IN ({quoted})"

    def replay_gtid_conflict(self, state: Mapping[str, str], backup_gtid: str | None) -> str | None:
        """Return why replaying the source's GTIDs onto a target would fail, or None.

        :param state: the target's variables from :meth:`replay_state_sql` (lower-case names).
        :param backup_gtid: the GTID position the backup recorded (empty or None without GTIDs).

        MariaDB: only a target logging with ``gtid_strict_mode`` whose own sequence in a domain
        is already at or past the first replayed one refuses (error 1950).
        MySQL: ``SET GTID_NEXT='uuid:n'`` fails on a ``gtid_mode=OFF`` target (error 1781) and
        ``SET GTID_NEXT='ANONYMOUS'`` on a ``gtid_mode=ON`` one (1782); the ``*_PERMISSIVE``
        modes take both. The source logged GTIDs when its backup recorded a GTID set.
        """
        on = ("ON", "1")
        if self.is_mariadb:
            log_bin = state.get("log_bin", "OFF").upper() in on
            strict = state.get("gtid_strict_mode", "OFF").upper() in on
            return _mariadb_gtid_conflict(
                backup_gtid, state.get("gtid_binlog_pos", ""), log_bin, strict
            )
        mode = state.get("gtid_mode", "OFF").upper()
        if backup_gtid and mode == "OFF":
            return (
                f"the source logs GTIDs ({backup_gtid}) but the target runs gtid_mode=OFF: "
                "applying them would fail with error 1781"
            )
        if not backup_gtid and mode == "ON":
            return (
                "the source logs anonymous transactions (no GTIDs) but the target runs "
                "gtid_mode=ON: applying them would fail with error 1782"
            )
        return None

    @property
    def replay_skip_gtids_args(self) -> list[str]:
        """Binary log tool options that leave the source's GTIDs out of its output.

        MySQL's mysqlbinlog has ``--skip-gtids``; MariaDB's mariadb-binlog has none, so its
        GTID lines are dropped by :meth:`replay_gtid_filter` instead.
        """
        return [] if self.is_mariadb else ["--skip-gtids"]

    def replay_gtid_filter(self) -> list[str] | None:
        """Return a filter dropping the source's GTID assignments from the tool's output, or None.

        For mariadb-binlog: whole lines exactly like
        ``/*M!100001 SET @@session.gtid_seq_no=12*//*!*/;`` (and the ``gtid_domain_id`` and
        ``server_id`` ones printed with them), so the target numbers the transactions itself.
        """
        if not self.is_mariadb:
            return None
        return ["grep", "-a", "-v", "-x", "-E", _MARIADB_GTID_SET_LINE]

    def innodb_foreign_keys_table(self) -> str:
        """The InnoDB catalog of every foreign key on the server (PROCESS, no per-table grant).

        MySQL 8.0 renamed ``INNODB_SYS_FOREIGN`` to ``INNODB_FOREIGN``; MariaDB kept the old name.
        """
        if not self.is_mariadb and self.version.at_least(8, 0):
            return "INNODB_FOREIGN"
        return "INNODB_SYS_FOREIGN"

    def privilege_names(self, privilege: str) -> frozenset[str]:
        """Return the names under which the catalog may list ``privilege`` on this server.

        MariaDB 10.5 renamed REPLICATION CLIENT to BINLOG MONITOR (a grant of the old name is
        listed under the new one). SLAVE MONITOR, which SHOW REPLICA STATUS needs from 10.5.9,
        is a separate privilege: REPLICATION CLIENT does not stand for it.
        """
        if privilege == "REPLICATION CLIENT" and self.is_mariadb and self.version.at_least(10, 5):
            return frozenset({"REPLICATION CLIENT", "BINLOG MONITOR"})
        return frozenset({privilege})

    def read_only_variables(self) -> tuple[str, ...]:
        """Return the global variables that make up the server's read-only state.

        MySQL 5.7.8+ adds ``super_read_only``, which also stops accounts with SUPER; MariaDB
        has only ``read_only`` (accounts with READ_ONLY ADMIN may still write).
        """
        if not self.is_mariadb and self.version.at_least(5, 7, 8):
            return ("read_only", "super_read_only")
        return ("read_only",)

    def set_read_only_sql(self, on: bool) -> list[tuple[str, tuple[object, ...]]]:
        """Return the statements that turn read-only on or off, in the order to run them.

        On MySQL ``super_read_only`` is set after ``read_only`` when turning on and cleared
        before it when turning off, so the server is never in a half state the other way.
        """
        names = self.read_only_variables() if on else self.read_only_variables()[::-1]
        return [(f"SET GLOBAL {name} = %s", (1 if on else 0,)) for name in names]

    # ---- replication control and GTID positions --------------------------------------------

    @property
    def _replica_keyword(self) -> str:
        # Both flavors accept REPLICA where they renamed SHOW SLAVE STATUS (see above).
        return "REPLICA" if self.replica_status_sql() == "SHOW REPLICA STATUS" else "SLAVE"

    def stop_replica_sql(self) -> str:
        """Return the statement that stops both replication threads."""
        return f"STOP {self._replica_keyword}"

    def start_replica_sql(self) -> str:
        """Return the statement that starts both replication threads."""
        return f"START {self._replica_keyword}"

    def reset_replica_all_sql(self) -> str:
        """Return the statement that forgets the source entirely, so replication cannot resume."""
        return f"RESET {self._replica_keyword} ALL"

    def gtid_position_sql(self, role: Literal["primary", "replica"]) -> str:
        """Return the SELECT that reads a server's GTID position as one string.

        A primary's position is what its binary log holds; a replica's is what its replication
        applier has executed. MariaDB keeps the two apart (``gtid_binlog_pos`` and
        ``gtid_slave_pos``); MySQL has one set for both, ``gtid_executed`` (empty unless
        ``gtid_mode=ON``).
        """
        if not self.is_mariadb:
            return "SELECT @@GLOBAL.gtid_executed"
        if role == "primary":
            return "SELECT @@GLOBAL.gtid_binlog_pos"
        return "SELECT @@GLOBAL.gtid_slave_pos"

    def gtid_wait_sql(self, position: str, timeout_s: float) -> tuple[str, tuple[object, ...]]:
        """Return the SELECT that blocks until a replica has applied ``position``.

        Both functions return 0 once the position is applied (MariaDB's ``MASTER_GTID_WAIT``
        returns -1 on timeout, MySQL's ``WAIT_FOR_EXECUTED_GTID_SET`` 1); see
        :meth:`gtid_wait_reached`.
        """
        function = "MASTER_GTID_WAIT" if self.is_mariadb else "WAIT_FOR_EXECUTED_GTID_SET"
        return f"SELECT {function}(%s, %s)", (position, float(timeout_s))

    @staticmethod
    def gtid_wait_reached(result: object) -> bool:
        """Return whether a :meth:`gtid_wait_sql` result means the position was reached."""
        return result is not None and int(str(result)) == 0

    def gtid_missing(self, source: str, replica: str) -> int:
        """Return how many transactions of GTID position ``source`` ``replica`` lacks.

        MariaDB positions hold the last ``domain-server-sequence`` per domain, and sequence
        numbers count transactions within a domain. MySQL positions are sets of
        ``uuid:interval`` ranges; a transaction is missing when its number is in no range.
        """
        if self.is_mariadb:
            mine = _mariadb_sequences(replica)
            return sum(
                max(0, seq - mine.get(dom, 0)) for dom, seq in _mariadb_sequences(source).items()
            )
        theirs, mine_sets = _mysql_gtid_set(source), _mysql_gtid_set(replica)
        return sum(
            _interval_count(ranges) - _overlap(ranges, mine_sets.get(key, []))
            for key, ranges in theirs.items()
        )


_MARIADB_GTID = re.compile(r"^(\d+)-(\d+)-(\d+)$")
_MARIADB_GTID_SET_LINE = (
    r"/\*M!100001 SET @@session\.(gtid_domain_id|server_id|gtid_seq_no)=[0-9]+\*//\*!\*/;"
)


def _mariadb_gtid_conflict(
    backup_gtid: str | None, target_binlog_pos: str, log_bin: bool, strict: bool
) -> str | None:
    if not (log_bin and strict):
        return None
    ours = _mariadb_sequences(target_binlog_pos or "")
    theirs = _mariadb_sequences(backup_gtid or "")
    clashes = [
        f"domain {domain}: target at {ours[domain]}, replay starts at {seq + 1}"
        for domain, seq in sorted(theirs.items())
        if ours.get(domain, 0) >= seq + 1
    ]
    if not clashes and ours and not theirs:
        clashes = [f"target's own GTIDs {target_binlog_pos} may be ahead of the source's"]
    if not clashes:
        return None
    return (
        "the target logs binary logs with gtid_strict_mode=ON and its GTIDs are ahead of the "
        f"source's ({'; '.join(clashes)}): replaying the source's GTIDs would fail with error 1950"
    )


_MYSQL_INTERVAL = re.compile(r"^(\d+)(?:-(\d+))?$")


def _mariadb_sequences(position: str) -> dict[int, int]:
    """Return the highest sequence number per domain of a MariaDB GTID position."""
    sequences: dict[int, int] = {}
    for item in filter(None, (part.strip() for part in position.split(","))):
        match = _MARIADB_GTID.match(item)
        if not match:
            raise PreflightError(f"cannot read MariaDB GTID {item!r} in position {position!r}")
        domain, seq = int(match.group(1)), int(match.group(3))
        sequences[domain] = max(seq, sequences.get(domain, 0))
    return sequences


def _mysql_gtid_set(gtid_set: str) -> dict[str, list[tuple[int, int]]]:
    """Return a MySQL GTID set as inclusive ranges per ``uuid`` (``uuid:tag`` for tagged ones)."""
    ranges: dict[str, list[tuple[int, int]]] = {}
    for item in filter(None, (part.strip() for part in gtid_set.replace("\n", "").split(","))):
        uuid, *parts = (p.strip() for p in item.split(":"))
        key = uuid.lower()
        for part in parts:
            match = _MYSQL_INTERVAL.match(part)
            if match is None:  # a tag (MySQL 8.3+): the intervals after it belong to uuid:tag
                key = f"{uuid.lower()}:{part}"
                continue
            start = int(match.group(1))
            ranges.setdefault(key, []).append((start, int(match.group(2) or start)))
    return ranges


def _interval_count(ranges: list[tuple[int, int]]) -> int:
    return sum(end - start + 1 for start, end in ranges)


def _overlap(ranges: list[tuple[int, int]], others: list[tuple[int, int]]) -> int:
    return sum(
        max(0, min(end, o_end) - max(start, o_start) + 1)
        for start, end in ranges
        for o_start, o_end in others
    )
