"""Load the package's SQL from ``include/sql/`` with identifiers quoted by the one guard."""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from maintenance_ops.core.exceptions import ConfigError
from maintenance_ops.core.identifiers import quote_identifier

SQL_DIR_ENV = "MAINTENANCE_SQL_DIR"
DEFAULT_SQL_DIR = Path(__file__).resolve().parents[3] / "include" / "sql"


def sql_dir() -> Path:
    """Return the folder holding the SQL files (``$MAINTENANCE_SQL_DIR`` or ``include/sql``)."""
    return Path(os.environ.get(SQL_DIR_ENV) or DEFAULT_SQL_DIR)


@lru_cache(maxsize=64)
def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"SQL file {path} is missing; reinstall the package's include/ folder or set "
            f"{SQL_DIR_ENV}"
        ) from None


def load_sql(name: str, **identifiers: str) -> str:
    """Return ``include/sql/<name>.sql`` with ``{placeholders}`` replaced by quoted identifiers.

    Only identifiers are substituted, always through :func:`quote_identifier`; values are
    never formatted into SQL: they stay ``%s`` placeholders bound at execution.
    """
    text = _read(sql_dir() / f"{name}.sql")
    quoted = {key: quote_identifier(value) for key, value in identifiers.items()}
    return text.format(**quoted) if quoted else text


def split_statements(script: str) -> list[str]:
    """Split a file of ``;``-terminated DDL statements (no procedures) into statements."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [stmt.strip() for stmt in "\n".join(lines).split(";") if stmt.strip()]
