"""Every MySQL-vs-MariaDB difference the package knows about, as data in one place.

Nothing else in the package branches on the server flavor: ask the :class:`Dialect`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from maintenance_ops.exceptions import PreflightError

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

    @property
    def dump_tool(self) -> str:
        return "mariadb-dump" if self.is_mariadb else "mysqldump"

    @property
    def binlog_tool(self) -> str:
        return "mariadb-binlog" if self.is_mariadb else "mysqlbinlog"

    @property
    def client_tool(self) -> str:
        return "mariadb" if self.is_mariadb else "mysql"

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
