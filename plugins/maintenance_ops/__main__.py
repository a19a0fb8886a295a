"""Command line of the maintenance coordinator (the spec's ``maintenance_status`` and friends).

    python -m maintenance_ops status [--schedules] [--format json]
    python -m maintenance_ops schedules [--format json]
    python -m maintenance_ops pause CADENCE
    python -m maintenance_ops unpause CADENCE
    python -m maintenance_ops trigger CADENCE [--database NAME ...] [--dry-run] [--wait]
                                              [--timeout S] [--format json]

CADENCE is a cadence key (daily_maintenance), task type (daily) or DAG id
(mysql_daily_maintenance). Every command but ``status`` works through Airflow's REST API:
AIRFLOW_API_URL (else Airflow's [api] base_url, else http://localhost:8080) with
AIRFLOW_API_TOKEN (or AIRFLOW_API_TOKEN_FILE), or AIRFLOW_API_USER with AIRFLOW_API_PASSWORD
(or AIRFLOW_API_PASSWORD_FILE). Passwords are never options.

Exit codes: 0 done; 1 the waited-for run failed; 2 bad input (unknown cadence or database,
configuration), nothing changed; 3 the API refused or could not be reached; 4 --wait timed out
(the run goes on).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from maintenance_ops.coordinator import Coordinator, ManualRun, Schedule

EXIT_RUN_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_API = 3
EXIT_TIMEOUT = 4


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of every subcommand (pure: nothing is read or called)."""
    from maintenance_ops.coordinator import WAIT_TIMEOUT_S, cadence_choices
    from maintenance_ops.observe import status

    parser = argparse.ArgumentParser(
        prog="python -m maintenance_ops",
        description=__doc__.split("\n\n")[0],
        epilog=f"CADENCE: {cadence_choices()}, or mysql_custom_<name>.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    status.add_arguments(sub.add_parser("status", help="health per database and state per DAG"))
    fmt = argparse.ArgumentParser(add_help=False)
    fmt.add_argument("--format", choices=("text", "json"), default="text")
    sub.add_parser("schedules", parents=[fmt], help="the maintenance DAGs and their paused state")
    for name, verb in (("pause", "disable"), ("unpause", "enable")):
        cmd = sub.add_parser(name, parents=[fmt], help=f"{verb} a cadence's schedule")
        cmd.add_argument("cadence", metavar="CADENCE")
    trigger = sub.add_parser("trigger", parents=[fmt], help="trigger a manual maintenance run")
    trigger.add_argument("cadence", metavar="CADENCE")
    trigger.add_argument(
        "--database",
        dest="databases",
        action="append",
        default=[],
        metavar="NAME",
        help="a configured database; repeat it for more; default: every enabled database",
    )
    trigger.add_argument("--dry-run", action="store_true", help="only show what would be done")
    trigger.add_argument(
        "--wait", action="store_true", help="follow the run and print its report (DAG unpaused)"
    )
    trigger.add_argument(
        "--timeout",
        type=_positive_seconds,
        default=None,
        metavar="S",
        help=f"with --wait: give up following after S seconds (default {WAIT_TIMEOUT_S:g})",
    )
    return parser


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse and cross-check the arguments (``--timeout`` needs ``--wait``)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "trigger" and args.timeout is not None and not args.wait:
        parser.error("--timeout applies to --wait: add --wait, or drop --timeout")
    return args


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit code."""
    import logging

    args = parse_args(argv)
    # Airflow logs to stdout; keep stdout for the result (JSON must parse).
    logging.getLogger("maintenance_ops").setLevel(logging.WARNING)
    if args.command == "status":
        from maintenance_ops.observe import status

        return status.run(args)
    return _coordinate(args)


def _coordinate(args: argparse.Namespace) -> int:
    from maintenance_ops.coordinator import (
        AirflowApiError,
        CoordinatorError,
        DagNotFound,
        RunTimeout,
        UnknownChoice,
        get_maintenance_coordinator,
    )
    from maintenance_ops.core.exceptions import ConfigError

    try:
        with get_maintenance_coordinator() as coordinator:
            return _dispatch(coordinator, args)
    except (UnknownChoice, DagNotFound, ConfigError) as exc:
        return _fail(exc, EXIT_BAD_INPUT)
    except RunTimeout as exc:
        _emit(args, exc.run.to_dict(), _run_text(exc.run))
        return _fail(exc, EXIT_TIMEOUT)
    except AirflowApiError as exc:
        return _fail(exc, EXIT_API)
    except CoordinatorError as exc:  # refused before any change (e.g. --wait on a paused DAG)
        return _fail(exc, EXIT_BAD_INPUT)


def _dispatch(coordinator: Coordinator, args: argparse.Namespace) -> int:
    from maintenance_ops.coordinator import WAIT_TIMEOUT_S

    if args.command == "schedules":
        found = coordinator.schedules()
        _emit(args, [s.to_dict() for s in found], _schedules_text(found))
        return 0
    if args.command in ("pause", "unpause"):
        pause = args.command == "pause"
        schedule = (coordinator.disable_schedule if pause else coordinator.enable_schedule)(
            args.cadence
        )
        _emit(args, schedule.to_dict(), _schedules_text([schedule]))
        return 0
    run = coordinator.trigger_manual_maintenance(
        args.databases or None,
        args.cadence,
        dry_run=args.dry_run,
        wait=args.wait,
        timeout_s=args.timeout or WAIT_TIMEOUT_S,
    )
    if run.dag_paused:
        print(
            f"note: {run.dag_id} is paused: the run stays queued until it is unpaused "
            f"(python -m maintenance_ops unpause {run.dag_id})",
            file=sys.stderr,
        )
    _emit(args, run.to_dict(), _run_text(run))
    return EXIT_RUN_FAILED if run.state == "failed" else 0


def _fail(exc: BaseException, code: int) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return code


def _emit(args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, default=str) if args.format == "json" else text)


def _schedules_text(schedules: list[Schedule], now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    lines = []
    for s in schedules:
        if not s.found:
            state = "not on the server (not parsed yet, or an import error)"
        else:
            state = f"{'paused' if s.paused else 'active'}, schedule {s.schedule or '-'}"
            state += f", next run {s.next_run}{_due(s.next_run, now)}" if s.next_run else ""
            state += ", IMPORT ERRORS" if s.has_import_errors else ""
        lines.append(f"{s.cadence} ({s.dag_id}): {state}")
    return "\n".join(lines)


def _due(next_run: str, now: datetime) -> str:
    """Say so when a next run is already due: Airflow starts the latest missed interval at once
    (an unpaused daily DAG runs today's 02:00 run on unpausing at 18:00)."""
    try:
        when = datetime.fromisoformat(next_run.replace("Z", "+00:00"))
    except ValueError:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return " (due now: Airflow starts it at once)" if when <= now else ""


def _run_text(run: ManualRun) -> str:
    conf = json.dumps(run.conf, sort_keys=True)
    lines = [f"{run.dag_id} run {run.dag_run_id}: {run.state} (conf {conf})", f"  {run.url}"]
    if run.finished and run.report is None:
        lines.append("  no report: the report task returned none (see its log)")
    elif run.report is not None:
        lines.append(str(run.report.get("text") or json.dumps(run.report, default=str)))
    return "\n".join(lines)


# Airflow's plugin manager imports every module under plugins/: only run when executed.
if __name__ == "__main__":
    sys.exit(main())
