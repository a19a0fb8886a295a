"""Hourly health check: collect metrics, compare with thresholds, score 0-100.

Collecting (I/O, :func:`collect`) is separate from deciding (:func:`evaluate` and
:func:`score`, pure), so every threshold and the scoring formula are unit-tested without a
server, and the integration tests drive each metric across its line for real.

Score formula (also in the README): start at 100; every critical breach takes 30 points, every
warning 10, every security finding 5 (at most 15 in all); the score never drops below 0. Status:
``critical`` when any breach is critical, else ``degraded`` when any breach is a warning or the
score is below 80, else ``healthy``.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from maintenance_ops.core.sqlfiles import load_sql, split_statements

if TYPE_CHECKING:
    from maintenance_ops.core.config import Thresholds
    from maintenance_ops.core.dialect import ServerVersion
    from maintenance_ops.core.grants import Grant
    from maintenance_ops.core.session import MaintenanceSession

log = logging.getLogger(__name__)

Level = Literal["warning", "critical"]
CRITICAL_PENALTY = 30
WARNING_PENALTY = 10
SECURITY_PENALTY = 5
SECURITY_PENALTY_CAP = 15
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", ""})


@dataclass(frozen=True)
class Breach:
    """One metric over one threshold on one database."""

    database: str
    metric: str
    value: float
    threshold: float
    level: Level
    detail: str = ""

    @property
    def key(self) -> str:
        """Identical alerts share this key (the quiet period is per key)."""
        return f"{self.metric}:{self.level}"

    def describe(self) -> str:
        extra = f" ({self.detail})" if self.detail else ""
        return (
            f"{self.database}: {self.metric}={self.value:g} >= {self.level} threshold "
            f"{self.threshold:g}{extra}"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "key": self.key}


@dataclass
class ReplicaState:
    """Replication state of one replica, as its status statement shows it."""

    name: str
    io_running: bool | None = None
    sql_running: bool | None = None
    seconds_behind: float | None = None
    last_error: str = ""
    reachable: bool = True
    error: str = ""


@dataclass
class HealthSample:
    """Everything one health check measured on one database."""

    database: str
    metrics: dict[str, float] = field(default_factory=dict)
    replicas: list[ReplicaState] = field(default_factory=list)
    longest_query: dict[str, Any] | None = None
    digests: list[dict[str, Any]] = field(default_factory=list)
    digest_source: str = "processlist"
    sizes: dict[str, int] = field(default_factory=dict)
    security: list[str] = field(default_factory=list)
    security_explained: list[str] = field(default_factory=list)  # our own accounts: no penalty
    host: str = "not local"
    notes: list[str] = field(default_factory=list)
    duration_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class HealthScore:
    """A database's score, status and the reasons for both."""

    score: int
    status: Literal["healthy", "degraded", "critical"]
    reasons: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# ---- deciding (pure) -----------------------------------------------------------------------


def _level(
    value: float, warning: float | None, critical: float | None
) -> tuple[Level, float] | None:
    if critical is not None and value >= critical:
        return "critical", critical
    if warning is not None and value >= warning:
        return "warning", warning
    return None


def evaluate(sample: HealthSample, thresholds: Thresholds) -> list[Breach]:
    """Return every threshold the sample crosses, critical ones first."""
    t = thresholds
    checks: list[tuple[str, float | None, float | None]] = [
        ("connections_pct", t.connection_warning_pct, t.connection_critical_pct),
        ("longest_query_s", t.query_time_warning_s, t.query_time_critical_s),
        ("cpu_pct", t.cpu_warning_pct, None),
        ("memory_pct", t.memory_warning_pct, None),
        ("disk_pct", t.disk_warning_pct, None),
    ]
    breaches: list[Breach] = []
    for metric, warning, critical in checks:
        value = sample.metrics.get(metric)
        found = _level(value, warning, critical) if value is not None else None
        if found and value is not None:
            query = sample.longest_query if metric == "longest_query_s" else None
            detail = f"query id {query.get('id')}: {query.get('query')}" if query else ""
            level, limit = found
            breaches.append(Breach(sample.database, metric, float(value), limit, level, detail))
    breaches.extend(_replica_breaches(sample, thresholds))
    return sorted(breaches, key=lambda b: (b.level != "critical", b.metric))


def _replica_breaches(sample: HealthSample, t: Thresholds) -> list[Breach]:
    breaches = []
    for replica in sample.replicas:
        metric = f"replica.{replica.name}"
        if not replica.reachable:
            breaches.append(
                Breach(sample.database, f"{metric}.reachable", 0, 1, "critical", replica.error)
            )
            continue
        for thread, running in (
            ("io_running", replica.io_running),
            ("sql_running", replica.sql_running),
        ):
            if running is False:  # a stopped thread is critical whatever the lag says
                breaches.append(
                    Breach(
                        sample.database, f"{metric}.{thread}", 0, 1, "critical", replica.last_error
                    )
                )
        if replica.seconds_behind is not None:
            found = _level(
                replica.seconds_behind, t.replication_lag_warning_s, t.replication_lag_critical_s
            )
            if found:
                breaches.append(
                    Breach(
                        sample.database,
                        f"{metric}.lag_s",
                        replica.seconds_behind,
                        found[1],
                        found[0],
                    )
                )
    return breaches


def score(breaches: list[Breach], sample: HealthSample) -> HealthScore:
    """Turn breaches and security findings into a 0-100 score and a status, with reasons."""
    points = 100
    reasons = []
    for breach in breaches:
        points -= CRITICAL_PENALTY if breach.level == "critical" else WARNING_PENALTY
        reasons.append(breach.describe())
    security = min(SECURITY_PENALTY * len(sample.security), SECURITY_PENALTY_CAP)
    points -= security
    reasons.extend(f"security: {finding}" for finding in sample.security)
    reasons.extend(f"security (no penalty): {note}" for note in sample.security_explained)
    points = max(points, 0)
    if any(b.level == "critical" for b in breaches):
        status: Literal["healthy", "degraded", "critical"] = "critical"
    elif breaches or points < 80:
        status = "degraded"
    else:
        status = "healthy"
    return HealthScore(points, status, reasons)


def connection_metrics(status: dict[str, str]) -> dict[str, float]:
    """Derive the connection and InnoDB metrics from global status and variables (pure)."""

    def num(name: str) -> float:
        return float(status.get(name, 0) or 0)

    max_conn = num("MAX_CONNECTIONS") or 1.0
    reads, requests = num("INNODB_BUFFER_POOL_READS"), num("INNODB_BUFFER_POOL_READ_REQUESTS")
    return {
        "connections": num("THREADS_CONNECTED"),
        "max_connections": max_conn,
        "connections_pct": round(100.0 * num("THREADS_CONNECTED") / max_conn, 2),
        "max_used_connections": num("MAX_USED_CONNECTIONS"),
        "max_used_connections_pct": round(100.0 * num("MAX_USED_CONNECTIONS") / max_conn, 2),
        "threads_running": num("THREADS_RUNNING"),
        "aborted_connects": num("ABORTED_CONNECTS"),
        "buffer_pool_hit_pct": round(100.0 * (1 - reads / requests), 3) if requests else 100.0,
        "uptime_s": num("UPTIME"),
        "slow_queries": num("SLOW_QUERIES"),
        # Absent when the server does not count deadlocks: never a silent 0.
        **({"deadlocks": num("INNODB_DEADLOCKS")} if "INNODB_DEADLOCKS" in status else {}),
    }


def since_last(current: dict[str, float], previous: dict[str, float] | None) -> dict[str, float]:
    """Turn the server's running totals into counts since the previous sample (pure).

    A total that went down means the server restarted in between: the whole current total is
    new then.
    """
    out = {}
    for name in ("deadlocks", "aborted_connects", "slow_queries"):
        now = current.get(name)
        if now is None:
            continue
        before = (previous or {}).get(name)
        out[f"{name}_since_last"] = now if before is None or now < before else now - before
    return out


@dataclass(frozen=True)
class OwnAccount:
    """An account ``include/sql/grants.sql`` creates, and the global privileges it needs there.

    :param role: how messages name it (``maintenance account``, ``on-call account``).
    :param host: its host, or None for the user's account on any host.
    :param needs: each global privilege grants.sql gives it, with the reason written there.
    """

    role: str
    user: str
    host: str | None
    needs: Mapping[str, str]

    def owns(self, row: Mapping[str, Any]) -> bool:
        return row["user"] == self.user and self.host in (None, row["host"])


def security_findings(
    accounts: list[dict[str, Any]], own: Sequence[OwnAccount] = ()
) -> tuple[list[str], list[str]]:
    """Name every risky account (pure): ``(findings, explained)``.

    An account from any host (``%``) with risky global privileges is a finding, unless it is
    one of ``own`` holding only what grants.sql gives it: that one is explained (what it needs
    and why) without a penalty. Anything it holds beyond grants.sql is still a finding.
    """
    findings: list[str] = []
    explained: list[str] = []
    for row in accounts:
        who = f"'{row['user']}'@'{row['host']}'"
        if int(row.get("anonymous") or 0):
            findings.append(f"anonymous account {who}")
        elif int(row.get("empty_password") or 0):
            findings.append(f"account {who} has an empty password")
        held = [p for p in str(row.get("any_host_global") or "").split(",") if p]
        if not held:
            continue
        mine = next((a for a in own if a.owns(row)), None)
        beyond = [p for p in held if mine is None or p not in mine.needs]
        if beyond:
            extra = f" (beyond what grants.sql gives the {mine.role})" if mine else ""
            findings.append(
                f"account {who} has global privileges from any host: {', '.join(beyond)}{extra}"
            )
        elif mine is not None:
            why = "; ".join(f"{p} for {mine.needs[p]}" for p in held)
            explained.append(
                f"{who} is this package's {mine.role} (include/sql/grants.sql) and needs, from "
                f"any host: {why}. Restricting its host to the Airflow workers is safer"
            )
    return findings, explained


def own_accounts(
    version: ServerVersion, current_user: str, oncall_user: str | None = None
) -> list[OwnAccount]:
    """The maintenance account (this session's ``CURRENT_USER()``) and the on-call account.

    :param current_user: ``user@host`` as the server names the session's account.
    :param oncall_user: the on-call connection's login; default grants.sql's ``oncall``.
    """
    from maintenance_ops.core.grants import ONCALL_ACCOUNT, grants_file, oncall_grants_file

    def global_needs(grants: Iterable[Grant]) -> dict[str, str]:
        return {
            privilege: grant.reason
            for grant in grants
            if grant.scope == "*.*" and grant.condition.applies(version)
            for privilege in grant.privileges
        }

    user, _, host = current_user.rpartition("@")
    found = [OwnAccount("maintenance account", user, host, global_needs(grants_file()))]
    oncall = oncall_user or ONCALL_ACCOUNT.split("'")[1]
    if oncall != user:
        found.append(
            OwnAccount("on-call account", oncall, None, global_needs(oncall_grants_file()))
        )
    return found


# ---- collecting (I/O) ----------------------------------------------------------------------


def _status(session: MaintenanceSession, notes: list[str]) -> dict[str, str]:
    """Global status and variables by upper-case name, the deadlock counter included."""
    status = {
        str(r["Variable_name"]).upper(): r["Value"]
        for statement in split_statements(load_sql("health_status_variables"))
        for r in session.query(statement)
    }
    assert session.dialect is not None
    deadlocks = _deadlock_metric(session, session.dialect.deadlocks_sql(), notes)
    if deadlocks is not None:
        status["INNODB_DEADLOCKS"] = deadlocks
    return status


def _deadlock_metric(session: MaintenanceSession, sql: str, notes: list[str]) -> str | None:
    """The server's deadlock count (the dialect's source), or None with a note saying why not."""
    import MySQLdb

    try:
        rows = session.query(sql)
    except (MySQLdb.OperationalError, MySQLdb.ProgrammingError) as exc:
        notes.append(f"deadlock count unavailable ({exc.args[-1]}); grant PROCESS")  # MySQL
        return None
    if not rows or str(rows[0]["status"]).lower() != "enabled":
        notes.append(
            "deadlock count unavailable: InnoDB metric lock_deadlocks is disabled; "
            "SET GLOBAL innodb_monitor_enable = 'lock_deadlocks'"
        )
        return None
    return str(rows[0]["deadlocks"])


def _history_list_length(session: MaintenanceSession) -> float | None:
    rows = session.query("SHOW ENGINE INNODB STATUS")
    text = rows[0].get("Status", "") if rows else ""
    for line in text.splitlines():
        if line.startswith("History list length"):
            return float(line.split()[-1])
    return None


def server_is_local(host: str, server_hostname: str | None) -> bool:
    """Whether the server runs on this worker's host, so psutil numbers are its numbers."""
    if host in LOCAL_HOSTS or host.startswith("/"):
        return True
    return bool(server_hostname) and server_hostname == socket.gethostname()


def _host_metrics(datadir: str) -> dict[str, float]:
    import psutil

    return {
        "cpu_pct": float(psutil.cpu_percent(interval=0.2)),
        "memory_pct": float(psutil.virtual_memory().percent),
        "disk_pct": float(psutil.disk_usage(datadir).percent),
    }


def _digests(session: MaintenanceSession, sample: HealthSample, performance_schema: bool) -> None:
    if not performance_schema:
        sample.notes.append(
            "performance_schema is off: statement digests unavailable, longest query from the "
            "processlist; enable performance_schema=ON (restart) for digests"
        )
        return
    sample.digest_source = "performance_schema"
    sample.digests = [
        {k: (float(v) if k in ("total_s", "avg_s") else v) for k, v in row.items()}
        for row in session.query(load_sql("health_digests"))
    ]


def _security(
    session: MaintenanceSession, sample: HealthSample, oncall_user: str | None = None
) -> None:
    assert session.dialect is not None
    dialect = session.dialect
    try:
        accounts = session.query(
            load_sql(dialect.security_accounts_sql), {"plugins": dialect.empty_password_plugins}
        )
    except Exception as exc:  # noqa: BLE001 - no SELECT on mysql.user: say so, go on
        tables = "mysql.user" + ("" if dialect.is_mariadb else " and mysql.role_edges")
        sample.notes.append(f"security audit skipped: {exc}; grant SELECT ON {tables}")
        return
    me = session.query_one("SELECT CURRENT_USER() AS me")["me"]
    own = own_accounts(dialect.version, me, oncall_user)
    sample.security, sample.security_explained = security_findings(accounts, own)


def collect(
    session: MaintenanceSession,
    database: str,
    replicas: list[tuple[str, MaintenanceSession | Exception]],
    schemas: list[str] | None = None,
    oncall_user: str | None = None,
) -> HealthSample:
    """Measure one database in one short session (and each replica in its own).

    :param schemas: the database's maintained schemas; sizes count only these (all if None).
    :param oncall_user: the on-call account's user, which the security audit knows as ours.
    """
    started = time.monotonic()
    sample = HealthSample(database)
    status = _status(session, sample.notes)
    sample.metrics.update(connection_metrics(status))
    running = session.query(load_sql("health_longest_query"))
    sample.longest_query = running[0] if running else None
    sample.metrics["longest_query_s"] = float(running[0]["seconds"]) if running else 0.0
    history = _history_list_length(session)
    if history is not None:
        sample.metrics["history_list_length"] = history
    _digests(session, sample, status.get("PERFORMANCE_SCHEMA", "OFF").upper() == "ON")
    sample.sizes = {
        r["schema_name"]: int(r["bytes"] or 0) for r in session.query(load_sql("health_sizes"))
    }
    sample.metrics["total_size_bytes"] = float(sum(sample.sizes.values()))
    _security(session, sample, oncall_user)
    assert session.endpoint is not None
    if server_is_local(session.endpoint.host, status.get("HOSTNAME")) or session.endpoint.socket:
        sample.host = "local"
        sample.metrics.update(_host_metrics(status.get("DATADIR") or "/"))
    sample.replicas = [replica_state(name, s) for name, s in replicas]
    sample.duration_s = round(time.monotonic() - started, 3)
    return sample


def replica_state(name: str, session: MaintenanceSession | Exception) -> ReplicaState:
    """Read one replica's replication state (an unreachable replica is a state too)."""
    if isinstance(session, Exception):
        return ReplicaState(name, reachable=False, error=str(session))
    assert session.dialect is not None
    rows = session.query(session.dialect.replica_status_sql())
    if not rows:
        return ReplicaState(
            name,
            reachable=True,
            io_running=False,
            sql_running=False,
            last_error="replication is not configured on this server",
        )
    status = session.dialect.replica_status(rows[0])
    return ReplicaState(
        name,
        io_running=status.io_running,
        sql_running=status.sql_running,
        seconds_behind=status.seconds_behind,
        last_error=status.last_error,
    )
