"""Build the backup tools' commands and their credentials option file (building, not running)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from maintenance_ops.core.connections import get_connection
from maintenance_ops.core.exceptions import ConfigError
from maintenance_ops.core.pipes import option_file, private_option_file
from maintenance_ops.core.processes import after_options
from maintenance_ops.core.session import Endpoint, endpoint_of
from maintenance_ops.core.tools import require_flavor, version_line

if TYPE_CHECKING:
    from maintenance_ops.core.config import BackupSettings
    from maintenance_ops.core.dialect import Dialect


DUMP_TOOLS = ("mariadb-dump", "mysqldump")


def tool_option_file(where: Endpoint, login: str | None, password: str | None) -> bytes:
    """Return the tools' option file (by :func:`pipes.option_file`), read by [client],
    [mydumper] and [mariabackup].

    :raises ConfigError: the user or password holds a line break or NUL (the value not shown).
    """
    options: dict[str, str | int | None] = {
        "host": where.host,
        "port": where.port,
        "socket": where.socket,
        "user": login or None,
        "password": password or None,
    }
    return option_file(options, ("client", "mydumper", "mariabackup"))


@contextlib.contextmanager
def credentials_file(conn_id: str) -> Iterator[str]:
    """Yield a private option file holding the connection's credentials; delete it afterwards.

    The password is never put on a command line (visible to every local user in ``ps``). A
    file, not a pipe: mydumper runs several times (per schema, once more after a stall) and
    the dump tools may read it more than once. Its pid-tagged name lets
    :func:`cleanup_backup_leftovers` remove it after a kill.
    """
    conn = get_connection(conn_id)
    text = tool_option_file(endpoint_of(conn_id, conn), conn.login, conn.password)
    with private_option_file(text, CREDENTIALS_FILE_PREFIX) as path:
        yield str(path)


def dump_command(
    tool: str, defaults_file: str, schemas: Sequence[str], *, binlog_args: Sequence[str] = ()
) -> list[str]:
    """Return the mariadb-dump/mysqldump command for one consistent dump of ``schemas``.

    :param binlog_args: the options recording the binary log position, per flavor and tool
        version (:meth:`~maintenance_ops.core.dialect.Dialect.dump_binlog_args`); none without a
        binary log.
    """
    command = [
        tool,
        f"--defaults-extra-file={defaults_file}",  # must come first
        "--single-transaction",
        "--routines",
        "--triggers",
        "--events",
        "--hex-blob",
        "--default-character-set=utf8mb4",
    ]
    # "--": a schema named like an option stays a name (checked_names refuses it anyway).
    return [*command, *binlog_args, "--databases", *after_options(schemas, "schema")]


def mydumper_regex(schemas: Sequence[str]) -> str:
    """Return mydumper's ``--regex`` matching exactly the tables of ``schemas``."""
    return "^(" + "|".join(re.escape(s) for s in schemas) + r")\."


def mydumper_command(
    defaults_file: str, outdir: Path, schemas: Sequence[str], *, compress: bool
) -> list[str]:
    """Return the mydumper command that dumps the tables, views and triggers of ``schemas``.

    One run, one snapshot for every schema. mydumper 0.10's ``--database`` takes one name, so
    several schemas are chosen with ``--regex``; it still visits every database the account
    can see, and its ``--routines``/``--events`` read them all (``SHOW EVENTS`` in ``mysql``
    is refused to a least-privilege account). Routines and events are therefore dumped per
    schema by :func:`mydumper_post_command`.
    """
    command = [
        "mydumper",
        f"--defaults-file={defaults_file}",
        f"--outputdir={outdir}",
        "--threads=2",
        "--trx-consistency-only",
        "--triggers",
        f"--regex={mydumper_regex(schemas)}",
    ]
    if len(schemas) == 1:
        command.append(f"--database={schemas[0]}")
    return [*command, "--compress"] if compress else command


def mydumper_post_command(
    defaults_file: str, outdir: Path, schema: str, *, compress: bool
) -> list[str]:
    """Return the mydumper command that dumps only the routines and events of one schema.

    It writes ``<schema>-schema-post.sql`` (no tables, no rows), the file myloader runs after
    the tables; it is moved beside the main run's files.
    """
    command = [
        "mydumper",
        f"--defaults-file={defaults_file}",
        f"--outputdir={outdir}",
        "--threads=1",
        "--trx-consistency-only",
        "--no-schemas",
        "--no-data",
        "--routines",
        "--events",
        f"--database={schema}",
    ]
    return [*command, "--compress"] if compress else command


def mariabackup_command(defaults_file: str, outdir: Path) -> list[str]:
    """Return the raw (unprepared) mariabackup command writing into ``outdir``."""
    return [
        "mariabackup",
        f"--defaults-extra-file={defaults_file}",
        "--backup",
        f"--target-dir={outdir}",
    ]


def backup_tool(settings: BackupSettings, dialect: Dialect | None) -> str:
    """Return the tool a backup runs: ``backup.tool``, else the server flavor's dump tool."""
    if settings.tool:
        return settings.tool
    return dialect.dump_tool if dialect is not None else "mariadb-dump"


def check_tool(tool: str, dialect: Dialect, *, binlog: bool) -> str:
    """Refuse a tool that cannot back this server up; return its version line.

    The dump tools must be the server's flavor's
    (:func:`maintenance_ops.core.tools.require_flavor`); mydumper reads both flavors.
    """
    problem = dialect.backup_tool_problem(tool, binlog=binlog)
    if problem is not None:
        raise ConfigError(f"backup refused, nothing written: {problem}")
    if tool in DUMP_TOOLS:
        return require_flavor(tool, dialect, "back up")
    return version_line(tool)


CREDENTIALS_FILE_PREFIX = "mmc-backup-cred-"
