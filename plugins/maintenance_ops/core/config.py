"""Typed, validated configuration read from ``include/maintenance.yaml``.

Every error names the file, the key path and the bad value in one line, so an import error in
the Airflow UI tells the DBA exactly what to fix. Nothing here touches a database.
"""

from __future__ import annotations

import os
import re
from datetime import time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from maintenance_ops.core.cadences import BY_KEY, CADENCES, STEP_NAMES, TASK_TYPES
from maintenance_ops.core.exceptions import ConfigError, IdentifierError
from maintenance_ops.core.identifiers import SAFE_IDENTIFIER, validate_identifier
from maintenance_ops.core.row_filter import filter_columns

if TYPE_CHECKING:
    from maintenance_ops.core.trends import HistoryNeed

CONFIG_ENV = "MAINTENANCE_CONFIG"
# libyaml's safe loader parses the file ten times faster than the pure-Python one: every DAG
# file loads the configuration at parse time.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
DEFAULT_CONFIG_PATH = Path(__file__).resolve().parents[3] / "include" / "maintenance.yaml"
_CONN_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,250}$")
_EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+$")


def _identifier(value: str) -> str:
    try:
        return validate_identifier(value, "name")
    except IdentifierError as exc:
        raise ValueError(str(exc)) from None


def _conn_id(value: str) -> str:
    if not _CONN_ID.match(value):
        raise ValueError(f"{value!r} is not a valid Airflow connection id")
    return value


def _cron(value: str) -> str:
    from croniter import croniter

    if not croniter.is_valid(value):
        raise ValueError(f"{value!r} is not a valid cron expression (e.g. '0 2 * * *')")
    return value


def _email(value: str) -> str:
    if not _EMAIL.match(value):
        raise ValueError(f"{value!r} is not an email address")
    return value


Identifier = Annotated[str, AfterValidator(_identifier)]
ConnId = Annotated[str, AfterValidator(_conn_id)]
Cron = Annotated[str, AfterValidator(_cron)]
Email = Annotated[str, AfterValidator(_email)]
PositiveInt = Annotated[int, Field(gt=0)]
Percent = Annotated[float, Field(gt=0, le=100)]
Seconds = Annotated[float, Field(gt=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class CleanupRule(_Model):
    """The spec's ``DATABASE_CLEANUP_RULES`` entry: what to delete or archive, and when."""

    name: Identifier
    table: Identifier
    schema_name: Identifier | None = Field(default=None, alias="schema")
    date_column: Identifier
    retention_days: PositiveInt
    cleanup_type: Literal["delete", "archive"] = "delete"
    where: str | None = None
    batch_size: Annotated[int, Field(gt=0, le=100_000)] | None = None
    archive_table: Identifier | None = None
    archive_schema: Identifier | None = None
    allow_no_primary_key: bool = False
    partitions: Literal["auto", "off"] = "auto"
    archive_children: dict[str, Identifier | None] = Field(default_factory=dict)
    """ON DELETE CASCADE children archived with the parent, in the same transaction per chunk:
    a list of child tables, or a mapping child table -> archive table (None: ``<child>_archive``,
    in ``archive_schema`` or the child's schema)."""
    allow_cascade_delete: bool | list[str] = False
    """CASCADE children whose rows may be deleted with the parent without a copy (true: all)."""
    allow_set_null: bool | list[str] = False
    """ON DELETE SET NULL children whose references may be rewritten to NULL (true: all)."""

    @field_validator("where")
    @classmethod
    def _single_condition(cls, value: str | None) -> str | None:
        # Parsed as it is spliced into the statements (row_filter); the columns are checked
        # against the real table when the rule runs, before its first write.
        if value is not None:
            filter_columns(value)
        return value

    @field_validator("archive_children", mode="before")
    @classmethod
    def _children_as_mapping(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            names = [str(v) for v in value]
            repeated = sorted({n for n in names if names.count(n) > 1})
            if repeated:
                raise ValueError(f"child tables listed twice: {repeated}")
            return dict.fromkeys(names)
        return value

    @field_validator("archive_children", "allow_cascade_delete", "allow_set_null")
    @classmethod
    def _child_table_names(cls, value: Any) -> Any:
        # Child tables are matched against the foreign keys the server reports, then quoted:
        # they may hold any character a catalog name can (they are never spliced unchecked).
        for name in value if isinstance(value, dict | list) else ():
            if not name or len(name) > 64 or "\x00" in name or name.endswith(" "):
                raise ValueError(
                    f"child table {name!r} must be a table name of 1-64 characters, as the "
                    "server's catalog spells it"
                )
        return value

    @model_validator(mode="after")
    def _children_need_archive_mode(self) -> CleanupRule:
        if self.archive_children and self.cleanup_type != "archive":
            raise ValueError(
                f"archive_children {sorted(self.archive_children)} needs cleanup_type: archive "
                "(a delete rule keeps no copy); to delete those children with their parents "
                "without a copy, set allow_cascade_delete instead"
            )
        return self


class Replica(_Model):
    """A read replica of a database, checked for lag and readiness."""

    name: Identifier
    conn_id: ConnId
    oncall_conn_id: ConnId | None = None
    """The on-call account on this replica (grants.sql's second section): the drill runs the
    failover runbook's dry run as it."""
    sample_tables: list[str] = Field(default_factory=list)
    """``schema.table`` names compared by checksum in the drill; empty: the smallest tables."""

    @field_validator("sample_tables")
    @classmethod
    def _qualified_names(cls, value: list[str]) -> list[str]:
        for name in value:
            schema, dot, table = name.partition(".")
            if not dot or not SAFE_IDENTIFIER.match(schema) or not SAFE_IDENTIFIER.match(table):
                raise ValueError(
                    f"sample table {name!r} must be schema.table, each part letters, digits, "
                    "_ or $ (at most 64 characters)"
                )
        return value


class BackupSettings(_Model):
    """Where backups live and how they are taken, kept and judged."""

    enabled: bool = False
    location: str = "file:///var/backups/mysql-maintenance"
    tool: Literal["mariadb-dump", "mysqldump", "mydumper", "mariabackup"] | None = None
    """None: the server flavor's dump tool (mysqldump on MySQL, mariadb-dump on MariaDB)."""
    compression: Literal["zstd", "gzip", "none"] = "zstd"
    retention_days: PositiveInt = 14
    keep_count: PositiveInt = 7
    rpo_hours: Seconds = 26.0
    rto_minutes: Seconds = 60.0
    encryption_conn_id: ConnId | None = None
    stall_timeout_s: Seconds = 300.0
    """mydumper writing nothing new for this long is killed and run once more (mydumper 0.10
    can hang for good, at random, with every thread waiting); a second stall fails the backup."""


class RestoreTarget(_Model):
    """Where restore tests restore to: never the source."""

    type: Literal["ephemeral", "scratch"] = "ephemeral"
    conn_id: ConnId | None = None
    buffer_pool_mb: Annotated[int, Field(ge=64, le=1_048_576)] = 1024
    """InnoDB buffer pool of an ephemeral server: sized like a server you would recover onto."""

    @model_validator(mode="after")
    def _scratch_needs_conn(self) -> RestoreTarget:
        if self.type == "scratch" and not self.conn_id:
            raise ValueError("a scratch restore target needs conn_id (a connection marked scratch)")
        return self


class Thresholds(_Model):
    """The spec's alert thresholds (warning and critical levels)."""

    connection_warning_pct: Percent = 80.0
    connection_critical_pct: Percent = 95.0
    query_time_warning_s: Seconds = 2.0
    query_time_critical_s: Seconds = 5.0
    replication_lag_warning_s: Seconds = 5.0
    replication_lag_critical_s: Seconds = 30.0
    cpu_warning_pct: Percent = 80.0
    memory_warning_pct: Percent = 85.0
    disk_warning_pct: Percent = 85.0

    @model_validator(mode="after")
    def _warning_below_critical(self) -> Thresholds:
        for metric in ("connection", "query_time", "replication_lag"):
            unit = "pct" if metric == "connection" else "s"
            warning = getattr(self, f"{metric}_warning_{unit}")
            critical = getattr(self, f"{metric}_critical_{unit}")
            if warning > critical:
                raise ValueError(
                    f"{metric}_warning_{unit}={warning} is above its critical level {critical}"
                )
        return self


class ThresholdOverrides(_Model):
    """Per-database thresholds; unset keys fall back to the global ``thresholds``."""

    connection_warning_pct: Percent | None = None
    connection_critical_pct: Percent | None = None
    query_time_warning_s: Seconds | None = None
    query_time_critical_s: Seconds | None = None
    replication_lag_warning_s: Seconds | None = None
    replication_lag_critical_s: Seconds | None = None
    cpu_warning_pct: Percent | None = None
    memory_warning_pct: Percent | None = None
    disk_warning_pct: Percent | None = None


class AssetRefresh(_Model):
    """When an Airflow asset is updated, refresh the statistics of the tables behind it."""

    asset: Annotated[str, Field(min_length=1, max_length=1500)]
    """The asset's URI (or name) as the producing DAG declares it."""
    tables: Annotated[list[str], Field(min_length=1)]
    """``schema.table`` names whose statistics the update makes stale."""


class Database(_Model):
    """One database server to maintain, reached through an Airflow connection."""

    name: Identifier
    conn_id: ConnId
    schemas: list[Identifier] = Field(default_factory=list)
    """Schemas to maintain; empty means every non-system schema."""
    enabled: bool = True
    history_schema: Identifier = "_maintenance"
    history_conn_id: ConnId | None = None
    oncall_conn_id: ConnId | None = None
    """The on-call account on this server (grants.sql's second section): the drill runs the
    runbooks' dry runs that touch the real servers as it, proving it could do the real run."""
    replicas: list[Replica] = Field(default_factory=list)
    cleanup_rules: list[CleanupRule] = Field(default_factory=list)
    backup: BackupSettings = BackupSettings()
    restore_target: RestoreTarget = RestoreTarget()
    thresholds: ThresholdOverrides = ThresholdOverrides()
    statistics_on_assets: list[AssetRefresh] = Field(default_factory=list)
    """Airflow assets (a load DAG's output) whose updates refresh the statistics of tables here."""

    _invalid_rules: dict[str, str] = PrivateAttr(default_factory=dict)

    @property
    def invalid_rules(self) -> dict[str, str]:
        """Cleanup rules set aside at load for being invalid: rule name -> one-line error.

        A bad rule fails only what would run it (the cleanup step of this database), when it
        is about to, naming the problem; the rest of the configuration and every other DAG
        (the health check above all) keep working.
        """
        return self._invalid_rules

    @model_validator(mode="after")
    def _unique_rule_names(self) -> Database:
        _reject_duplicates([r.name for r in self.cleanup_rules], "cleanup rule")
        _reject_duplicates([r.name for r in self.replicas], "replica")
        return self


class Schedule(_Model):
    """One built-in DAG's schedule; a disabled schedule still allows manual runs."""

    cron: Cron
    enabled: bool = True
    deadline_minutes: Seconds


class CustomSchedule(_Model):
    """The spec's ``CUSTOM_MAINTENANCE_SCHEDULES`` entry: an extra DAG for one task type."""

    database: Identifier
    task_type: str
    cron: Cron
    enabled: bool = True
    deadline_minutes: Seconds | None = None

    @field_validator("task_type")
    @classmethod
    def _known_task_type(cls, value: str) -> str:
        if value not in TASK_TYPES:
            raise ValueError(f"unknown task type {value!r}; use one of {', '.join(TASK_TYPES)}")
        return value


def _default_schedules() -> dict[str, Schedule]:
    return {
        c.key: Schedule(cron=c.default_cron, deadline_minutes=c.default_deadline_minutes)
        for c in CADENCES
    }


class Window(_Model):
    """A daily maintenance window; ``end`` before ``start`` spans midnight."""

    start: time
    end: time
    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. 'UTC', 'Europe/Berlin')") from None
        return value


class MaintenanceSettings(_Model):
    """How maintenance runs: pool, window, session guards, chunking, throttling, retries."""

    pool: Identifier = "mysql_maintenance"
    max_concurrent: PositiveInt = 2
    queue: Annotated[str, Field(min_length=1, max_length=64)] | None = "maintenance"
    window: Window | None = None
    enforce_window: bool = False
    lock_wait_timeout_s: PositiveInt = 5
    innodb_lock_wait_timeout_s: PositiveInt = 5
    statement_timeout_s: Annotated[float, Field(ge=0)] = 3600.0
    connect_timeout_s: PositiveInt = 10
    read_timeout_s: Seconds | None = None
    """Longest wait for a server's answer; default: the statement time limit plus 60 s."""
    write_timeout_s: PositiveInt = 60
    chunk_size: Annotated[int, Field(gt=0, le=100_000)] = 1000
    cleanup_chunk_time_s: Annotated[float, Field(ge=0, le=10)] = 0.5
    """Target seconds per cleanup chunk: the chunk size starts at ``chunk_size`` and adapts
    (10 to 100,000 rows); 0 keeps every chunk at ``chunk_size`` rows."""
    max_replica_lag_s: Seconds = 5.0
    max_threads_running: PositiveInt = 50
    owner: Annotated[str, Field(min_length=1)] = "dba"
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    retry_delay_s: Seconds = 60.0
    max_retry_delay_s: Seconds = 900.0
    execution_timeout_minutes: Seconds = 120.0
    step_timeout_minutes: dict[str, Seconds] = Field(default_factory=dict)
    """Minutes each named step may run (e.g. ``{cleanup: 90, optimize: 240}``); a step not
    named takes ``execution_timeout_minutes``."""

    @field_validator("step_timeout_minutes")
    @classmethod
    def _known_steps(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = [name for name in value if name not in STEP_NAMES]
        if unknown:
            raise ValueError(
                f"unknown step(s) {', '.join(map(repr, unknown))}; the steps are "
                f"{', '.join(STEP_NAMES)}: correct the name or remove it"
            )
        return value

    def step_timeout(self, step: str) -> timedelta:
        """Return how long the step ``step`` may run (its own limit, else the common one)."""
        return timedelta(
            minutes=self.step_timeout_minutes.get(step, self.execution_timeout_minutes)
        )


class Notifications(_Model):
    """Where alerts and reports go; every channel is optional."""

    slack_conn_id: ConnId | None = None
    smtp_conn_id: ConnId = "smtp_default"
    emails: list[Email] = Field(default_factory=list)
    from_email: Email | None = None
    pagerduty_conn_id: ConnId | None = None
    send_alerts: bool = True
    send_reports: bool = True
    send_weekly_reports: bool = True
    enable_deadlines: bool = True
    report_dir: str | None = None


class HealthSettings(_Model):
    """How the hourly health check keeps history and holds back repeated alerts."""

    history_retention_days: PositiveInt = 90
    quiet_period_minutes: Annotated[float, Field(ge=0)] = 60.0
    warnings_to_slack: bool = True
    metric_prefix: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.]{1,64}$")] = "mysql_maintenance"
    trend_min_hours: Seconds = 24.0
    """Hours of samples a trend or forecast needs before it gives a slope or a date."""
    trend_min_samples: Annotated[int, Field(ge=2, le=10_000)] = 12
    """Samples a trend or forecast needs; below either minimum it says "not enough history"."""

    @property
    def trend_need(self) -> HistoryNeed:
        """The history every trend and forecast needs before it shows a number."""
        from maintenance_ops.core.trends import HistoryNeed

        return HistoryNeed(self.trend_min_hours, self.trend_min_samples)


class DailySettings(_Model):
    """Knobs of the daily maintenance: index analysis, statistics and cleanup budgets."""

    unused_index_days: Seconds = 7.0
    low_selectivity_max: Annotated[float, Field(gt=0, lt=1)] = 0.001
    low_selectivity_min_rows: PositiveInt = 10_000
    stale_stats_ratio: Annotated[float, Field(gt=0, le=10)] = 0.1
    statistics_time_budget_minutes: Seconds = 30.0
    cleanup_time_budget_minutes: Seconds = 60.0


class OptimizationSettings(_Model):
    """Knobs of the weekly optimization and the monthly deep maintenance."""

    min_table_size_mb: Annotated[float, Field(ge=0)] = 16.0
    low_fragmentation: Annotated[float, Field(gt=0, lt=1)] = 0.2
    high_fragmentation: Annotated[float, Field(gt=0, lt=1)] = 0.4
    max_transaction_age_s: Seconds = 2.0
    rebuild_lock_wait_timeout_s: PositiveInt = 1
    rebuild_time_budget_minutes: Seconds = 180.0
    allow_locking_rebuild: bool = False
    rebuild_after_days: PositiveInt = 90
    integrity_time_budget_minutes: Seconds = 120.0
    histogram_time_budget_minutes: Seconds = 60.0
    histogram_max_columns: PositiveInt = 8
    regression_ratio: Annotated[float, Field(gt=1)] = 1.5
    top_statements: PositiveInt = 10
    autoinc_threshold: Annotated[float, Field(gt=0, lt=1)] = 0.8
    forecast_horizon_days: PositiveInt = 90

    @model_validator(mode="after")
    def _low_below_high(self) -> OptimizationSettings:
        if self.low_fragmentation >= self.high_fragmentation:
            raise ValueError(
                f"low_fragmentation={self.low_fragmentation} must be below "
                f"high_fragmentation={self.high_fragmentation}"
            )
        return self


class DisasterRecoverySettings(_Model):
    """Knobs of the monthly disaster-recovery drill."""

    pitr_drill: bool = True
    pitr_marker_gap_s: Annotated[float, Field(ge=1, le=60)] = 1.5
    replica_sample_tables: Annotated[int, Field(ge=0, le=100)] = 5
    replica_wait_timeout_s: Seconds = 60.0
    runbook_review_days: PositiveInt = 180
    notification_test: bool = True
    ready_score: Annotated[int, Field(ge=0, le=100)] = 80
    evidence_dir: str | None = None


class Config(_Model):
    """The whole configuration file."""

    version: Literal[1] = 1
    databases: list[Database] = Field(default_factory=list)
    schedules: dict[str, Schedule] = Field(default_factory=_default_schedules)
    custom_schedules: dict[Identifier, CustomSchedule] = Field(default_factory=dict)
    thresholds: Thresholds = Thresholds()
    health: HealthSettings = HealthSettings()
    daily: DailySettings = DailySettings()
    optimization: OptimizationSettings = OptimizationSettings()
    maintenance: MaintenanceSettings = MaintenanceSettings()
    notifications: Notifications = Notifications()
    disaster_recovery: DisasterRecoverySettings = DisasterRecoverySettings()

    @field_validator("schedules", mode="before")
    @classmethod
    def _merge_schedules(cls, value: Any) -> Any:
        """Fill in every schedule the file leaves out, and key by key inside each one."""
        if not isinstance(value, dict):
            return value
        unknown = sorted(set(value) - set(BY_KEY))
        if unknown:
            raise ValueError(f"unknown schedule {unknown[0]!r}; use one of {', '.join(BY_KEY)}")
        merged: dict[str, Any] = {}
        for key, cadence in BY_KEY.items():
            entry = value.get(key) or {}
            if not isinstance(entry, dict):
                return value
            merged[key] = {
                "cron": cadence.default_cron,
                "deadline_minutes": cadence.default_deadline_minutes,
                **entry,
            }
        return merged

    @field_validator("databases")
    @classmethod
    def _unique_databases(cls, value: list[Database]) -> list[Database]:
        _reject_duplicates([d.name for d in value], "database")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        names = {d.name for d in self.databases}
        for key, custom in self.custom_schedules.items():
            if custom.database not in names:
                raise ValueError(
                    f"custom_schedules.{key}.database {custom.database!r} is not a configured "
                    "database; add it under databases or fix the name"
                )
        return self

    def database(self, name: str) -> Database:
        """Return the database called ``name`` or raise naming the configured ones."""
        for db in self.databases:
            if db.name == name:
                return db
        known = ", ".join(d.name for d in self.databases) or "none"
        raise ConfigError(f"unknown database {name!r}; configured databases: {known}")

    def thresholds_for(self, database: str) -> Thresholds:
        """Merge a database's threshold overrides over the global thresholds."""
        overrides = self.database(database).thresholds.model_dump(exclude_none=True)
        return self.thresholds.model_copy(update=overrides)


def _reject_duplicates(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ValueError(f"duplicate {what} name {name!r}; names must be unique")
        seen.add(name)


def config_path() -> Path:
    """Return the configuration file in use: ``$MAINTENANCE_CONFIG`` or the packaged default."""
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)


def _format_error(path: Path, exc: ValidationError, key: str = "") -> str:
    """One line: the file, the key path (under ``key``, for a part validated alone), the
    message and the value."""
    first = exc.errors()[0]
    for part in first["loc"]:
        if isinstance(part, int):
            key += f"[{part}]"
        elif not str(part).startswith("function-"):
            key += f".{part}" if key else str(part)
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key; check the spelling against the README's configuration reference"
    shown = first.get("input")
    bad = "" if isinstance(shown, dict | list) else f" (got {shown!r})"
    more = f" [+{len(exc.errors()) - 1} more]" if len(exc.errors()) > 1 else ""
    where = f"{key}: " if key else ""
    return f"{path}: {where}{message}{bad}{more}"


def parse_config(text: str, source: Path | str = "<string>") -> Config:
    """Parse YAML text into a :class:`Config`, raising :class:`ConfigError` in one line."""
    source = Path(source)
    try:
        raw = yaml.load(text, Loader=_SAFE_LOADER)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{source}: YAML syntax error at {where}: {problem}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: (top): expected a mapping of keys, got {type(raw).__name__}")
    invalid = _set_aside_invalid_rules(raw, source)
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_error(source, exc)) from None
    for db in config.databases:
        db.invalid_rules.update(invalid.get(db.name, {}))
    return config


def _set_aside_invalid_rules(raw: dict[str, Any], source: Path) -> dict[str, dict[str, str]]:
    """Take each database's invalid cleanup rules out of ``raw``; return their errors.

    Returns ``{database name: {rule name: one-line error}}``; a rule without a usable name is
    named by its position (``#3``). Everything else is validated as a whole afterwards.
    """
    found: dict[str, dict[str, str]] = {}
    databases = raw.get("databases")
    for i, db in enumerate(databases if isinstance(databases, list) else []):
        rules = db.get("cleanup_rules") if isinstance(db, dict) else None
        if not isinstance(rules, list) or not isinstance(db.get("name"), str):
            continue
        kept = []
        for j, rule in enumerate(rules):
            try:
                CleanupRule.model_validate(rule)
            except ValidationError as exc:
                name = rule.get("name") if isinstance(rule, dict) else None
                label = name if isinstance(name, str) and name else f"#{j + 1}"
                where = f"databases[{i}].cleanup_rules[{j}]"
                found.setdefault(db["name"], {})[label] = _format_error(source, exc, where)
            else:
                kept.append(rule)
        db["cleanup_rules"] = kept
    return found


@lru_cache(maxsize=8)
def _load_cached(path: str, mtime_ns: int, size: int) -> Config:
    return parse_config(Path(path).read_text(encoding="utf-8"), path)


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Read and validate the configuration file (cached until the file changes).

    The cache key is the file's modification time and size, so building every DAG of a folder
    in one process reads and validates the file once, and a rewrite shows at the next call
    even within the clock's resolution when it changed the size.
    """
    resolved = Path(path) if path is not None else config_path()
    try:
        stat = resolved.stat()
    except FileNotFoundError:
        raise ConfigError(
            f"{resolved}: configuration file not found; create it (see include/maintenance.yaml) "
            f"or point {CONFIG_ENV} at it"
        ) from None
    return _load_cached(str(resolved), stat.st_mtime_ns, stat.st_size)
