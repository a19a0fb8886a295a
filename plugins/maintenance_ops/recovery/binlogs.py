"""Judge whether the binary logs can roll the newest backup forward (point-in-time recovery).

A backup's manifest records where its snapshot sits in the source's binary log
(``binlog: {file, position, gtid}``). Recovering to a later point replays every binary log
from that file on, so the chain must be unbroken: the backup's file and every later one must
still be on the server. Binary log names are ``<base>.<6 digits>``, numbered in sequence, so a
purged file shows as a hole in the numbers.

Collecting (``SHOW BINARY LOGS`` and the expiry settings) is separate from deciding; the
decisions are pure functions returning :class:`~maintenance_ops.recovery.restore.Check`
objects whose detail a person on call can act on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from maintenance_ops.core import sqlexec
from maintenance_ops.recovery.restore import Check

# Both flavors name their expiry setting differently across versions; whichever the server
# has shows up in SHOW GLOBAL VARIABLES, a missing one simply does not.
EXPIRY_VARIABLES = ("binlog_expire_logs_seconds", "expire_logs_days")
_SETTINGS_SQL = (
    "SHOW GLOBAL VARIABLES WHERE Variable_name IN "
    "('log_bin', 'log_bin_basename', 'binlog_format', 'binlog_expire_logs_seconds', "
    "'expire_logs_days', 'server_id')"
)
_NAME = re.compile(r"^(?P<base>.+)\.(?P<number>\d+)$")
ENABLE_HINT = (
    "enable it with log_bin=<basename>, binlog_format=ROW and a unique server_id in the "
    "server's configuration, restart it, then take a new backup"
)


@dataclass(frozen=True)
class BinlogFile:
    """One binary log on the server, as ``SHOW BINARY LOGS`` lists it."""

    name: str
    size: int


@dataclass(frozen=True)
class BinlogState:
    """What the server says about its binary logs: on or off, the files, the expiry."""

    enabled: bool
    files: tuple[BinlogFile, ...] = ()
    settings: Mapping[str, str] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        """Return the binary log names, oldest first."""
        return [f.name for f in self.files]

    @property
    def retention_s(self) -> float | None:
        """Return how long the server keeps binary logs in seconds (None: never expires)."""
        return retention_seconds(self.settings)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready dict."""
        return {
            "enabled": self.enabled,
            "files": [asdict(f) for f in self.files],
            "settings": dict(self.settings),
            "retention_s": self.retention_s,
        }


# --------------------------------------------------------------------------------------------
# Collecting
# --------------------------------------------------------------------------------------------


def read_binlog_state(conn: Any) -> BinlogState:
    """Read ``log_bin``, the expiry settings and ``SHOW BINARY LOGS`` over a DB-API connection."""
    found = sqlexec.rows(conn, _SETTINGS_SQL)
    settings = {str(name).lower(): str(value) for name, value, *_ in found}
    enabled = settings.get("log_bin", "OFF").upper() in ("ON", "1")
    if not enabled:
        return BinlogState(False, (), settings)
    files = tuple(BinlogFile(str(r[0]), int(r[1])) for r in sqlexec.rows(conn, "SHOW BINARY LOGS"))
    return BinlogState(True, files, settings)


def result_rows(cur: Any) -> list[list[Any]]:
    """Return the result rows as value lists, from a tuple or a dict cursor alike."""
    return [list(row.values()) if isinstance(row, dict) else list(row) for row in cur.fetchall()]


# --------------------------------------------------------------------------------------------
# Deciding (pure)
# --------------------------------------------------------------------------------------------


def parse_binlog_name(name: str) -> tuple[str, int]:
    """Split ``mysql-bin.000042`` into ``("mysql-bin", 42)``; raise ValueError otherwise."""
    match = _NAME.match(name)
    if not match:
        raise ValueError(f"{name!r} is not a binary log name (<base>.<number>)")
    return match["base"], int(match["number"])


def binlog_name(base: str, number: int) -> str:
    """Return the binary log name for ``number`` (six digits, as both flavors write them)."""
    return f"{base}.{number:06d}"


def retention_seconds(settings: Mapping[str, str]) -> float | None:
    """Return the binary log retention from the expiry settings; None when they never expire.

    ``binlog_expire_logs_seconds`` (MySQL 8, MariaDB 10.6+) wins when non-zero; otherwise
    ``expire_logs_days`` (older servers, and MariaDB where the two are linked).
    """
    seconds = float(settings.get("binlog_expire_logs_seconds") or 0)
    if seconds > 0:
        return seconds
    days = float(settings.get("expire_logs_days") or 0)
    return days * 86400.0 if days > 0 else None


def missing_binlogs(backup_file: str, server_files: Sequence[str]) -> list[str]:
    """Return the binary logs from ``backup_file`` on that are no longer on the server.

    The chain runs from the backup's file to the server's newest; any number in between
    that the server does not list was purged. Files of another base name are ignored.
    """
    base, first = parse_binlog_name(backup_file)
    numbers = _numbers(server_files, base)
    last = max(numbers, default=first)
    return [binlog_name(base, n) for n in range(first, last + 1) if n not in numbers]


def _numbers(names: Sequence[str], base: str) -> set[int]:
    """Return the sequence numbers of the binary logs named ``<base>.<number>``."""
    found = set()
    for name in names:
        try:
            other_base, number = parse_binlog_name(name)
        except ValueError:
            continue
        if other_base == base:
            found.add(number)
    return found


def _listing(names: Sequence[str], limit: int = 6) -> str:
    if not names:
        return "none"
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:2])}, ... {', '.join(names[-2:])} ({len(names)} files)"


def binlog_enabled_check(state: BinlogState, server: str = "the server") -> Check:
    """Fail when the server writes no binary log: no point-in-time recovery is possible."""
    if state.enabled:
        return Check("binlog_enabled", "pass", f"log_bin is ON on {server}")
    return Check(
        "binlog_enabled",
        "fail",
        f"log_bin is OFF on {server}: point-in-time recovery is impossible, only a restore to "
        f"the last backup; {ENABLE_HINT}",
    )


def binlog_gap_check(coordinates: Mapping[str, Any] | None, state: BinlogState) -> Check:
    """Decide whether the server still holds every binary log the backup needs to roll forward.

    :param coordinates: the manifest's ``binlog`` entry (``file``, ``position``, ``gtid``).
    :param state: the server's binary logs, from :func:`read_binlog_state`.
    """
    if not state.enabled:
        return Check("binlog_chain", "skipped", "binary log is off: nothing to roll forward with")
    file = (coordinates or {}).get("file")
    if not file:
        return Check(
            "binlog_chain",
            "fail",
            "the newest backup records no binary log coordinates (taken while log_bin was off "
            "or by a tool that does not record them): it cannot be rolled forward; take a new "
            "backup now that the binary log is on",
        )
    on_server = state.names
    try:
        base, number = parse_binlog_name(str(file))
    except ValueError as exc:
        return Check("binlog_chain", "fail", f"backup's binlog coordinates are unusable: {exc}")
    same_base = _numbers(on_server, base)
    if not same_base:
        return Check(
            "binlog_chain",
            "fail",
            f"the backup starts at {file} but the server has no {base}.* binary logs "
            f"(binlogs on server: {_listing(on_server)}); log_bin's basename changed or this "
            "is not the backup's source",
        )
    newest = max(same_base)
    if number > newest:
        return Check(
            "binlog_chain",
            "fail",
            f"the backup starts at {file}, after the server's newest binary log "
            f"{binlog_name(base, newest)}: the binary logs were reset (RESET MASTER) since the "
            "backup; take a new backup",
        )
    return _chain_verdict(str(file), coordinates or {}, state)


def _chain_verdict(file: str, coordinates: Mapping[str, Any], state: BinlogState) -> Check:
    on_server = state.names
    missing = missing_binlogs(file, on_server)
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        return Check(
            "binlog_chain",
            "fail",
            f"binlog {_listing(missing)} needed to roll the backup forward {verb} gone "
            f"(purged); binlogs on server: {_listing(on_server)}; point-in-time recovery "
            "reaches only the backup itself: take a new backup and keep binary logs longer",
        )
    sizes = {f.name: f.size for f in state.files}
    position = int(coordinates.get("position") or 0)
    # A position past the file's end (the newest file's current size included) means these
    # binary logs were recreated since the backup, e.g. by RESET MASTER.
    if position > sizes.get(file, position):
        return Check(
            "binlog_chain",
            "fail",
            f"the backup's position {file}:{position} lies beyond the file's end "
            f"({sizes[file]} bytes): these are not the binary logs the backup was taken from",
        )
    needed = on_server[on_server.index(file) :]
    return Check(
        "binlog_chain",
        "pass",
        f"{len(needed)} binlog(s) from {file}:{position} to {on_server[-1]} are on the server",
    )


def retention_check(retention_s: float | None, *, backup_interval_s: float, rpo_s: float) -> Check:
    """Judge whether binary logs live long enough to roll a backup forward until the next one.

    Binary logs must outlive the time between backups, and the RPO window (a failed backup
    means rolling the one before it forward), whichever is longer.
    """
    needed_s = max(backup_interval_s, rpo_s)
    needed_h = needed_s / 3600.0
    if retention_s is None:
        return Check(
            "binlog_retention",
            "pass",
            f"binary logs never expire (need {needed_h:.1f} h); watch the disk they fill",
        )
    have_h = retention_s / 3600.0
    if retention_s < needed_s:
        return Check(
            "binlog_retention",
            "fail",
            f"binary logs expire after {have_h:.1f} h, shorter than the {needed_h:.1f} h needed "
            f"(backup interval {backup_interval_s / 3600:.1f} h, RPO {rpo_s / 3600:.1f} h); "
            f"raise binlog_expire_logs_seconds to at least {int(needed_s)}",
        )
    return Check(
        "binlog_retention",
        "pass",
        f"binary logs kept {have_h:.1f} h, covering the {needed_h:.1f} h needed",
    )


def binlog_availability(
    state: BinlogState,
    manifest: Mapping[str, Any] | None,
    *,
    backup_interval_s: float,
    rpo_s: float,
    server: str = "the server",
) -> list[Check]:
    """Return every binary-log check for the newest backup's manifest and the server's state."""
    checks = [binlog_enabled_check(state, server)]
    if manifest is None:
        checks.append(Check("binlog_chain", "skipped", "no backup manifest to start from"))
    else:
        checks.append(binlog_gap_check(manifest.get("binlog"), state))
    if state.enabled:
        checks.append(
            retention_check(state.retention_s, backup_interval_s=backup_interval_s, rpo_s=rpo_s)
        )
    else:
        checks.append(Check("binlog_retention", "skipped", "binary log is off"))
    return checks


def check_binlog_availability(
    conn: Any,
    manifest: Mapping[str, Any] | None,
    *,
    backup_interval_s: float,
    rpo_s: float,
    server: str = "the server",
) -> list[Check]:
    """Read the server's binary logs over ``conn`` and judge them against ``manifest``.

    :param conn: a DB-API connection to the backed-up server (only read).
    :param manifest: the newest backup's manifest (None when there is no backup).
    :param backup_interval_s: seconds between scheduled backups.
    :param rpo_s: the recovery point objective in seconds.
    :param server: how to name the server in messages.
    """
    return binlog_availability(
        read_binlog_state(conn),
        manifest,
        backup_interval_s=backup_interval_s,
        rpo_s=rpo_s,
        server=server,
    )
