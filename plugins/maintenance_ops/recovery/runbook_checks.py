"""Check that the recovery runbooks in ``include/recovery/`` are present, runnable and current.

The monthly disaster-recovery drill runs this: a runbook that is missing, crashes on ``--help``,
fails its own dry run, or whose on-call document was not reviewed recently is a drill finding.
Deciding (parsing the review date, judging its age) is pure; running the scripts is separate.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path

from maintenance_ops.core import processes
from maintenance_ops.core.audit import redact
from maintenance_ops.core.processes import ProcessTimeout
from maintenance_ops.recovery.restore import Check

RECOVERY_DIR_ENV = "MAINTENANCE_RECOVERY_DIR"
DEFAULT_RECOVERY_DIR = Path(__file__).resolve().parents[3] / "include" / "recovery"
RUNBOOK_SCRIPTS = ("restore_from_backup.py", "failover_to_replica.py", "emergency_maintenance.py")
RUNBOOK_DOC = "disaster_recovery.md"
EXPECTED_RUNBOOKS = (*RUNBOOK_SCRIPTS, RUNBOOK_DOC)
_REVIEWED = re.compile(r"^\s*Last reviewed:\s*(\d{4}-\d{2}-\d{2})\s*$", re.MULTILINE)
_TAIL_LINES = 5
_TAIL_CHARS = 600


def default_recovery_dir() -> Path:
    """Return the runbook folder: ``$MAINTENANCE_RECOVERY_DIR`` or the packaged one."""
    return Path(os.environ.get(RECOVERY_DIR_ENV) or DEFAULT_RECOVERY_DIR)


# ------------------------------------------------------------------------------------------
# Pure decisions
# ------------------------------------------------------------------------------------------


def parse_last_reviewed(text: str) -> date | None:
    """Return the date of the first ``Last reviewed: YYYY-MM-DD`` line, or None if absent.

    :raises ValueError: the line is there but its date does not exist (``2026-02-30``).
    """
    match = _REVIEWED.search(text)
    return date.fromisoformat(match.group(1)) if match else None


def review_check(
    text: str, *, max_review_age_days: int, today: date, name: str = RUNBOOK_DOC
) -> Check:
    """Judge the on-call document's ``Last reviewed`` line against the allowed age."""
    check_name = f"reviewed: {name}"
    try:
        reviewed = parse_last_reviewed(text)
    except ValueError as exc:
        return Check(check_name, "fail", f"'Last reviewed' holds an invalid date: {exc}")
    if reviewed is None:
        return Check(
            check_name,
            "fail",
            f"no 'Last reviewed: YYYY-MM-DD' line; review {name} and add one",
        )
    age = (today - reviewed).days
    if age < 0:
        return Check(check_name, "fail", f"last reviewed {reviewed}, {-age} days in the future")
    if age > max_review_age_days:
        return Check(
            check_name,
            "fail",
            f"last reviewed {reviewed}, {age} days ago (limit {max_review_age_days}); "
            "walk through it and update the date",
        )
    return Check(check_name, "pass", f"last reviewed {reviewed}, {age} days ago")


def output_tail(stdout: str, stderr: str) -> str:
    """Return the last lines of a run's output, passwords redacted, short enough for a report."""
    lines = [line for line in (stdout + "\n" + stderr).splitlines() if line.strip()]
    tail = "\n".join(lines[-_TAIL_LINES:]) or "(no output)"
    tail = redact(tail) or ""
    return tail if len(tail) <= _TAIL_CHARS else "..." + tail[-_TAIL_CHARS:]


def _last_line(text: str) -> str:
    lines = [line for line in text.splitlines() if line.strip()]
    return (redact(lines[-1]) or "") if lines else "(no output)"


# ------------------------------------------------------------------------------------------
# Running the scripts
# ------------------------------------------------------------------------------------------


# The checks judge every exit code themselves; a death by signal is one too.
_ANY_EXIT = range(-64, 256)


def _run_script(
    script: Path, argv: Sequence[str], timeout_s: float, env: Mapping[str, str] | None = None
) -> tuple[int, str, str]:
    """Run ``<script> <argv>`` with this interpreter through :func:`processes.output`.

    :returns: ``(exit code, stdout, stderr)``.
    :raises ProcessTimeout: it ran past ``timeout_s`` (it and its children were killed).
    """
    return processes.output(
        [sys.executable, str(script), *argv],
        f"runbook {script.name}",
        timeout_s=timeout_s,
        ok=_ANY_EXIT,
        env=env,
    )


def help_check(script: Path, *, timeout_s: float) -> Check:
    """Run ``<script> --help`` with this interpreter; pass if it exits 0."""
    name = f"help: {script.name}"
    try:
        code, stdout, stderr = _run_script(script, ["--help"], timeout_s)
    except ProcessTimeout:
        return Check(name, "fail", f"--help did not finish within {timeout_s:g} s")
    if code != 0:
        return Check(name, "fail", f"--help exited {code}: {_last_line(stderr or stdout)}")
    return Check(name, "pass", "--help exits 0")


def dry_run_check(
    script: Path, argv: Sequence[str], *, timeout_s: float, env: Mapping[str, str] | None = None
) -> Check:
    """Run ``<script> <argv>`` (which must hold ``--dry-run``); pass if it exits 0.

    ``env`` adds variables (e.g. ``AIRFLOW_CONN_*`` for connections named in ``argv``): the
    environment, unlike the command line, is private to the process.
    """
    name = f"dry run: {script.name}"
    if "--dry-run" not in argv:
        return Check(
            name,
            "fail",
            "its arguments lack --dry-run; the drill never runs a runbook for real",
        )
    if not script.is_file():
        return Check(name, "fail", f"{script} not found")
    try:
        code, stdout, stderr = _run_script(script, argv, timeout_s, env)
    except ProcessTimeout:
        return Check(name, "fail", f"the dry run did not finish within {timeout_s:g} s")
    if code != 0:
        return Check(name, "fail", f"the dry run exited {code}: {output_tail(stdout, stderr)}")
    return Check(name, "pass", "the dry run exits 0")


def check_runbooks(
    recovery_dir: Path,
    *,
    max_review_age_days: int,
    today: date,
    dry_runs: Mapping[str, Sequence[str]] | None = None,
    timeout_s: float = 60,
    env: Mapping[str, str] | None = None,
) -> list[Check]:
    """Check that every runbook exists, answers ``--help``, dry-runs, and is recently reviewed.

    :param recovery_dir: the runbook folder, usually :func:`default_recovery_dir`.
    :param max_review_age_days: the oldest ``Last reviewed`` date accepted, in days.
    :param today: the date to judge the review age against (the drill's logical date).
    :param dry_runs: runbook file name → its arguments, holding ``--dry-run``, to run as a check.
    :param timeout_s: how long each script run may take.
    :param env: variables added to the dry runs' environment (connections they name).
    """
    checks: list[Check] = []
    for name in EXPECTED_RUNBOOKS:
        path = recovery_dir / name
        if path.is_file():
            checks.append(Check(f"exists: {name}", "pass", str(path)))
        else:
            checks.append(
                Check(f"exists: {name}", "fail", f"{name} is missing from {recovery_dir}")
            )
    for name in RUNBOOK_SCRIPTS:
        path = recovery_dir / name
        if path.is_file():
            checks.append(help_check(path, timeout_s=timeout_s))
    for name, argv in (dry_runs or {}).items():
        if Path(name).name != name:
            checks.append(
                Check(f"dry run: {name}", "fail", "name a file in the runbook folder, not a path")
            )
            continue
        checks.append(dry_run_check(recovery_dir / name, list(argv), timeout_s=timeout_s, env=env))
    doc = recovery_dir / RUNBOOK_DOC
    if doc.is_file():
        checks.append(
            review_check(
                doc.read_text(encoding="utf-8"),
                max_review_age_days=max_review_age_days,
                today=today,
            )
        )
    return checks
