"""The client programs installed here: their version line, and whose flavor they are.

Debian's MariaDB packages install ``mysqldump``, ``mysql`` and ``mysqlbinlog`` as links to
MariaDB's own tools, so a name says nothing about a tool's flavor: its ``--version`` line does.
MariaDB's dump tool sends ``SHOW MASTER STATUS`` (removed in MySQL 8.4) and its binlog tool
cannot decode MySQL 8's events; MySQL's dump tool does not record a MariaDB GTID position. So
the dump and binlog tools must be the server's flavor's, and a mismatch is refused up front,
naming what to install.
"""

from __future__ import annotations

import functools
import shutil

from maintenance_ops.core import processes
from maintenance_ops.core.dialect import Dialect, Flavor
from maintenance_ops.core.exceptions import ConfigError


def _ask(tool: str, flag: str) -> tuple[str, str]:
    """Return what ``<tool> <flag>`` prints on stdout and stderr, whatever its exit code."""
    _, out, err = processes.output([tool, flag], f"{tool} {flag}", timeout_s=30, ok=range(256))
    return out, err


@functools.lru_cache(maxsize=32)
def version_line(tool: str) -> str:
    """Return the first line of ``<tool> --version`` (``unknown`` when it prints nothing).

    :raises ConfigError: when the tool is not installed.
    """
    if not shutil.which(tool):
        raise ConfigError(f"{tool} is not installed on this machine; install it or set backup.tool")
    _, out, err = processes.output(
        [tool, "--version"], f"{tool} --version", timeout_s=30, ok=range(256)
    )
    lines = (out or err).strip().splitlines()
    return lines[0].strip() if lines else "unknown"


@functools.lru_cache(maxsize=32)
def supports(tool: str, option: str) -> bool:
    """Return whether ``<tool> --help`` mentions ``option`` (options differ across versions)."""
    out, _ = _ask(tool, "--help")
    return option in out


def line_flavor(line: str) -> Flavor:
    """Return whose tool printed a ``--version`` line (pure).

    MariaDB's say so (``mysqldump  Ver 10.19 Distrib 10.11.14-MariaDB, ...``, ``mariadb-dump
    from 11.4.2-MariaDB, client 10.19 ...``); MySQL's and Percona's do not (``mysqldump  Ver
    8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)``).
    """
    return "mariadb" if "mariadb" in line.lower() else "mysql"


def require_flavor(tool: str, dialect: Dialect, purpose: str) -> str:
    """Return ``tool``'s version line once it is proven to be ``dialect``'s flavor's tool.

    :param purpose: what the tool is for, for the message (``back up``, ``replay``).
    :raises ConfigError: naming the tool found and what to install instead.
    """
    line = version_line(tool)
    if line_flavor(line) != dialect.version.flavor:
        raise ConfigError(
            f"cannot {purpose} {dialect.version} with {tool}: the {tool} installed here is "
            f"{line_flavor(line)}'s ({line!r}), not {dialect.version.flavor}'s; "
            f"{dialect.client_install_hint}"
        )
    return line
