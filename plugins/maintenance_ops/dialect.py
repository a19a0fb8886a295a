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


_SLAVE_FIELDS = ReplicaFields(
    "Slave_IO_Running", "Slave_SQL_Running", "Seconds_Behind_Master", "Last_Error", "Master_Host"
)
_REPLICA_FIELDS = ReplicaFields(
    "Replica_IO_Running",
    "Replica_SQL_Running",
    "Seconds_Behind_Source",
    "Last_Error",
    "Source_Host",
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

    def privilege_names(self, privilege: str) -> frozenset[str]:
        """Return the names under which the catalog may list ``privilege`` on this server.

        MariaDB 10.5 split REPLICATION CLIENT into BINLOG MONITOR and SLAVE MONITOR; a grant
        of the old name shows up under the new ones.
        """
        if privilege == "REPLICATION CLIENT" and self.is_mariadb and self.version.at_least(10, 5):
            return frozenset({"REPLICATION CLIENT", "BINLOG MONITOR", "SLAVE MONITOR"})
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
