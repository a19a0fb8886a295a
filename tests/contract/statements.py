"""Every statement the package can send to a server of one flavor and version.

The SQL files of ``include/sql`` (rendered with the dialect's table names, and only the files
the dialect picks for the flavor) and the statements the :class:`Dialect` builds. Run
``python -m tests.contract.statements`` to print the list per flavor.
"""

from __future__ import annotations

import sys

from maintenance_ops.core.dialect import Dialect, parse_version
from maintenance_ops.core.sqlfiles import split_statements, sql_dir

# Sample identifiers for the files' {placeholders} (user schemas: never checked).
SAMPLE_NAMES = {
    "history_schema": "`_maintenance`",
    "schema": "`app`",
    "table": "`t`",
    "marker_schema": "`_maintenance`",
    "marker_table": "`restore_markers`",
}
# Files only some flavors or versions run; the dialect says which (see flavor_files).
CHOSEN_FILES = {"health_security_accounts", "health_security_accounts_mysql"}
# Metadata-lock holders of a table, one file per lock catalog; the dialect says which.
LOCK_FILES = {"mdl_holders", "mdl_holders_mariadb"}
# Probes whose failure is an answer (``backup_proc_readable``: can the account read mysql.proc,
# which MySQL 8 no longer has; error 1146 there must mean "no"): checked on MariaDB only.
MARIADB_PROBES = {"backup_proc_readable"}
# Files of statements for administrators (run by hand or by the tests' account builder).
ADMIN_FILES = {"grants"}


def flavor_files(dialect: Dialect) -> set[str]:
    """The SQL files (stems) the package sends to this server."""
    stems = {p.stem for p in sql_dir().glob("*.sql")} - ADMIN_FILES
    stems -= CHOSEN_FILES - {dialect.security_accounts_sql}
    stems -= LOCK_FILES - {c.holders_file for c in dialect.metadata_lock_catalogs()}
    if not dialect.is_mariadb:
        stems -= MARIADB_PROBES
    return stems


def render_file(stem: str, dialect: Dialect) -> list[str]:
    """One SQL file's statements as this server gets them (identifiers filled in)."""
    text = (sql_dir() / f"{stem}.sql").read_text(encoding="utf-8")
    names = {
        **SAMPLE_NAMES,
        **{k: f"`{v}`" for k, v in dialect.catalog_names.items()},
        "innodb_foreign": f"`{dialect.innodb_foreign_keys_table()}`",
    }
    text = text.format(**names) if "{" in text else text
    statements = split_statements(text)
    return statements if len(statements) > 1 else [text.strip()]


def dialect_statements(dialect: Dialect) -> list[tuple[str, str]]:
    """``(origin, statement)`` for every statement the dialect builds (sample arguments)."""
    out: list[tuple[str, str]] = [
        (f"session_setup_sql[{i}]", sql)
        for i, (sql, _) in enumerate(dialect.session_setup_sql(1, 1, 3600))
    ]
    out += [
        ("replica_status_sql", dialect.replica_status_sql()),
        ("binlog_status_sql", dialect.binlog_status_sql()),
        ("replay_state_sql", dialect.replay_state_sql()),
        ("stop_replica_sql", dialect.stop_replica_sql()),
        ("start_replica_sql", dialect.start_replica_sql()),
        ("reset_replica_all_sql", dialect.reset_replica_all_sql()),
        ("gtid_position_sql[primary]", dialect.gtid_position_sql("primary")),
        ("gtid_position_sql[replica]", dialect.gtid_position_sql("replica")),
        ("gtid_wait_sql", dialect.gtid_wait_sql("x", 1)[0]),
        ("histogram_count_sql", dialect.histogram_count_sql()),
    ]
    if not dialect.statement_limit_covers("ALTER TABLE t FORCE"):  # the session's watchdog
        out.append(("watchdog", "KILL QUERY %s"))
    out += [
        (f"set_read_only_sql[{i}]", sql)
        for i, (sql, _) in enumerate(dialect.set_read_only_sql(True))
    ]
    out += [
        (f"full_statistics_sql[{i}]", sql)
        for i, sql in enumerate(dialect.full_statistics_sql("`app`.`t`", ["`c`"]))
    ]
    for name in dialect.histogram_session_settings(254):
        out.append((f"histogram_session_settings[{name}]", f"SET SESSION {name} = %s"))
    out.append(("deadlocks_sql", dialect.deadlocks_sql()))
    out += [
        (f"metadata_lock_catalogs[{c.name}]", c.available_sql)
        for c in dialect.metadata_lock_catalogs()
    ]
    for nowait in (True, False):
        clause, wait_s = dialect.ddl_lock_wait(1, nowait=nowait)
        out.append((f"ddl_lock_wait[{clause}]", f"ALTER TABLE `app`.`t` {clause} FORCE"))
        if wait_s is not None:  # the rebuild DDL's own metadata-lock wait
            out.append(("ddl_lock_wait", "SET SESSION lock_wait_timeout = %s"))
    out.append(("metadata_lock_wait_limit", "KILL QUERY %s"))  # a DDL waiting too long
    roles = dialect.enabled_roles_sql()
    if roles:
        out.append(("enabled_roles_sql", roles))
        out.append(("grants_using_sql", dialect.grants_using_sql([("r", "%")])[0]))
    return out


def all_statements(dialect: Dialect) -> list[tuple[str, str]]:
    """``(origin, statement)`` for everything this server may get from the package."""
    out = []
    for stem in sorted(flavor_files(dialect)):
        statements = render_file(stem, dialect)
        for i, sql in enumerate(statements):
            out.append((f"{stem}.sql" + (f"[{i}]" if len(statements) > 1 else ""), sql))
    return out + dialect_statements(dialect)


def main(versions: list[str]) -> None:
    """Print the statements per server version (the dialect's ones in full)."""
    for raw in versions:
        dialect = Dialect(parse_version(raw))
        print(f"## {dialect.version} ({raw})")
        print("SQL files:", ", ".join(sorted(flavor_files(dialect))))
        for origin, sql in dialect_statements(dialect):
            print(f"- {origin}: {' '.join(sql.split())}")
        print()


if __name__ == "__main__":
    from tests.contract.catalog import VERSIONS

    main(sys.argv[1:] or [v for vs in VERSIONS.values() for v in vs])
