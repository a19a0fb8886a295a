"""The drill's runbook currency check: pure date decisions, fake runbooks, the real folder."""

from __future__ import annotations

import argparse
import io
import json
import time
from datetime import date
from pathlib import Path
from urllib.parse import quote

import pytest

from maintenance_ops.core.exceptions import ConfigError
from maintenance_ops.recovery.restore import Check
from maintenance_ops.recovery.runbook_checks import (
    DEFAULT_RECOVERY_DIR,
    check_runbooks,
    default_recovery_dir,
    parse_last_reviewed,
    review_check,
)
from maintenance_ops.recovery.runbook_cli import parse_arguments, parse_server, server_argument
from tests.conftest import run_sql
from tests.recovery.oncall import OnCall, create_oncall, drop_oncall
from tests.support.accounts import PASSWORD

TODAY = date(2026, 11, 29)

PASSING = """\
import argparse
parser = argparse.ArgumentParser(description="a runbook that works")
parser.add_argument("--dry-run", action="store_true")
parser.add_argument("--explode", action="store_true")
args = parser.parse_args()
if args.explode:
    print("step 1: connect to mysql://root:s3cret@db1:3306")
    raise SystemExit("refused: the target already holds data; pass --force")
print("dry run complete")
"""
BROKEN = "import maintenance_ops_that_does_not_exist\n"
SLOW = "import time\ntime.sleep(30)\n"


def by_name(checks: list[Check]) -> dict[str, Check]:
    names = [c.name for c in checks]
    assert len(names) == len(set(names)), names
    return {c.name: c for c in checks}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Two of the three scripts (one passing, one broken), none of emergency_maintenance.py."""
    (tmp_path / "restore_from_backup.py").write_text(PASSING)
    (tmp_path / "failover_to_replica.py").write_text(BROKEN)
    (tmp_path / "disaster_recovery.md").write_text("Last reviewed: 2026-11-01\n\n# On call\n")
    return tmp_path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("Last reviewed: 2026-11-29\n# Doc", date(2026, 11, 29), id="first-line"),
        pytest.param("# Doc\n\n  Last reviewed:2025-01-02  \n", date(2025, 1, 2), id="later-line"),
        pytest.param("# Doc\nReviewed recently\n", None, id="missing"),
        pytest.param("Text. Last reviewed: 2026-11-29 by me\n", None, id="not-a-line-of-its-own"),
    ],
)
def test_parse_last_reviewed(text: str, expected: date | None) -> None:
    assert parse_last_reviewed(text) == expected


@pytest.mark.parametrize(
    ("text", "status", "detail"),
    [
        pytest.param(
            "Last reviewed: 2026-11-29\n",
            "pass",
            "last reviewed 2026-11-29, 0 days ago",
            id="today",
        ),
        pytest.param(
            "Last reviewed: 2026-08-31\n", "pass", "2026-08-31, 90 days ago", id="at-the-limit"
        ),
        pytest.param(
            "Last reviewed: 2026-08-30\n",
            "fail",
            "last reviewed 2026-08-30, 91 days ago (limit 90)",
            id="one-day-too-old",
        ),
        pytest.param("Last reviewed: 2025-01-15\n", "fail", "2025-01-15, 683 days ago", id="old"),
        pytest.param("# no date\n", "fail", "no 'Last reviewed: YYYY-MM-DD' line", id="no-line"),
        pytest.param("Last reviewed: 2026-02-30\n", "fail", "invalid date", id="impossible-date"),
        pytest.param("Last reviewed: 2026-12-25\n", "fail", "26 days in the future", id="future"),
    ],
)
def test_review_check(text: str, status: str, detail: str) -> None:
    check = review_check(text, max_review_age_days=90, today=TODAY)
    assert check.name == "reviewed: disaster_recovery.md"
    assert check.status == status and detail in check.detail


def test_check_runbooks_names_missing_broken_and_passing(folder: Path) -> None:
    checks = by_name(check_runbooks(folder, max_review_age_days=90, today=TODAY))
    assert {n: c.status for n, c in checks.items()} == {
        "exists: restore_from_backup.py": "pass",
        "exists: failover_to_replica.py": "pass",
        "exists: emergency_maintenance.py": "fail",
        "exists: disaster_recovery.md": "pass",
        "help: restore_from_backup.py": "pass",
        "help: failover_to_replica.py": "fail",
        "reviewed: disaster_recovery.md": "pass",
    }
    assert (
        "emergency_maintenance.py is missing from"
        in checks["exists: emergency_maintenance.py"].detail
    )
    assert checks["help: failover_to_replica.py"].detail == (
        "--help exited 1: ModuleNotFoundError: No module named "
        "'maintenance_ops_that_does_not_exist'"
    )


@pytest.mark.parametrize(
    ("doc", "status", "detail"),
    [
        pytest.param("Last reviewed: 2026-11-20\n", "pass", "9 days ago", id="fresh"),
        pytest.param(
            "Last reviewed: 2026-05-01\n", "fail", "2026-05-01, 212 days ago (limit 90)", id="old"
        ),
        pytest.param("# On call, no date\n", "fail", "no 'Last reviewed", id="no-date"),
    ],
)
def test_check_runbooks_judges_the_document(
    folder: Path, doc: str, status: str, detail: str
) -> None:
    (folder / "disaster_recovery.md").write_text(doc)
    check = by_name(check_runbooks(folder, max_review_age_days=90, today=TODAY))[
        "reviewed: disaster_recovery.md"
    ]
    assert check.status == status and detail in check.detail


def test_missing_document_is_only_an_existence_failure(folder: Path) -> None:
    (folder / "disaster_recovery.md").unlink()
    checks = by_name(check_runbooks(folder, max_review_age_days=90, today=TODAY))
    assert checks["exists: disaster_recovery.md"].status == "fail"
    assert "reviewed: disaster_recovery.md" not in checks


def test_dry_runs(folder: Path) -> None:
    checks = by_name(
        check_runbooks(
            folder,
            max_review_age_days=90,
            today=TODAY,
            dry_runs={
                "restore_from_backup.py": ["--dry-run"],
                "failover_to_replica.py": ["--replica", "r1"],  # no --dry-run: never run
                "emergency_maintenance.py": ["--dry-run"],  # missing
                "../restore_from_backup.py": ["--dry-run"],
            },
        )
    )
    assert checks["dry run: restore_from_backup.py"].status == "pass"
    assert checks["dry run: failover_to_replica.py"].status == "fail"
    assert "lack --dry-run" in checks["dry run: failover_to_replica.py"].detail
    assert checks["dry run: emergency_maintenance.py"].status == "fail"
    assert "not found" in checks["dry run: emergency_maintenance.py"].detail
    assert checks["dry run: ../restore_from_backup.py"].status == "fail"


def test_a_failing_dry_run_shows_its_output_tail_without_passwords(folder: Path) -> None:
    (check,) = [
        c
        for c in check_runbooks(
            folder,
            max_review_age_days=90,
            today=TODAY,
            dry_runs={"restore_from_backup.py": ["--explode", "--dry-run"]},
        )
        if c.name.startswith("dry run")
    ]
    assert check.status == "fail"
    assert check.detail.startswith("the dry run exited 1: step 1: connect to mysql://root:")
    assert "refused: the target already holds data; pass --force" in check.detail
    assert "s3cret" not in check.detail


def test_a_hanging_runbook_times_out(folder: Path) -> None:
    (folder / "emergency_maintenance.py").write_text(SLOW)
    checks = by_name(check_runbooks(folder, max_review_age_days=90, today=TODAY, timeout_s=1))
    assert checks["help: emergency_maintenance.py"].status == "fail"
    assert checks["help: emergency_maintenance.py"].detail == "--help did not finish within 1 s"


def test_a_timed_out_runbook_is_killed_with_its_children(folder: Path, tmp_path: Path) -> None:
    """The runner kills the script's whole process group: no child of it outlives the check."""
    pid_file = tmp_path / "child.pid"
    (folder / "emergency_maintenance.py").write_text(
        "import subprocess\n"
        "child = subprocess.Popen(['sleep', '60'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "child.wait()\n"
    )
    checks = by_name(check_runbooks(folder, max_review_age_days=90, today=TODAY, timeout_s=2))
    assert checks["help: emergency_maintenance.py"].detail == "--help did not finish within 2 s"
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child), "the runbook's child outlived its timeout"


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, killed and waiting to be reaped, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_default_recovery_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("MAINTENANCE_RECOVERY_DIR", raising=False)
    assert default_recovery_dir() == DEFAULT_RECOVERY_DIR
    assert (DEFAULT_RECOVERY_DIR.parent / "maintenance.yaml").is_file()  # include/ next to plugins/
    monkeypatch.setenv("MAINTENANCE_RECOVERY_DIR", str(tmp_path))
    assert default_recovery_dir() == tmp_path


def _real_emergency_checks(account: OnCall) -> dict[str, Check]:
    doc = (default_recovery_dir() / "disaster_recovery.md").read_text(encoding="utf-8")
    return by_name(
        check_runbooks(
            default_recovery_dir(),
            max_review_age_days=90,
            today=parse_last_reviewed(doc) or TODAY,
            dry_runs={
                # Lists only hour-long queries and kills nothing: safe on the shared server.
                "emergency_maintenance.py": [
                    "runaway", "--server", account.url(), "--max-seconds", "3600", "--kill",
                    "--dry-run",
                ],
            },
            env={"MMC_RUNBOOK_PASSWORD": account.password},
        )
    )  # fmt: skip


def test_the_real_emergency_runbook_passes_as_the_oncall_account() -> None:
    """The packaged emergency_maintenance.py answers --help and dry-runs against the real
    server, as the on-call account grants.sql makes (not root)."""
    account = create_oncall(run_sql, 3306)
    try:
        checks = _real_emergency_checks(account)
    finally:
        drop_oncall(run_sql, account)
    assert checks["exists: emergency_maintenance.py"].status == "pass"
    assert checks["help: emergency_maintenance.py"] == Check(
        "help: emergency_maintenance.py", "pass", "--help exits 0"
    )
    assert checks["dry run: emergency_maintenance.py"].status == "pass"
    assert checks["reviewed: disaster_recovery.md"].status == "pass"


def test_a_dry_run_fails_the_check_when_the_real_run_could_not_work() -> None:
    """An account lacking a grant of the command fails the dry run, naming the grant."""
    account = create_oncall(run_sql, 3306, skip=["CONNECTION ADMIN"])
    try:
        check = _real_emergency_checks(account)["dry run: emergency_maintenance.py"]
    finally:
        drop_oncall(run_sql, account)
    assert check.status == "fail"
    assert "exited 1" in check.detail and "CONNECTION ADMIN ON *.*" in check.detail


# ------------------------------------------------------------------------------------------
# Server arguments: connection ids, or URIs whose password comes from elsewhere
# ------------------------------------------------------------------------------------------

HOSTILE = PASSWORD  # quotes, %, #, ;, @, :, /, a backslash, a space and non-ASCII


def _no_prompt(text: str) -> str:
    raise AssertionError(f"prompted: {text}")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="runbook")
    server_argument(parser, "target", "the server to restore onto")
    server_argument(parser, "binlog-source", "the server whose binary logs to read")
    return parser


def test_a_password_in_the_uri_is_refused_without_showing_it() -> None:
    uri = "mysql://root:" + quote(HOSTILE, safe="") + "@db1:3306"
    with pytest.raises(ConfigError) as info:
        parse_arguments(_parser(), ["--target", uri], environ={}, ask=_no_prompt)
    message = str(info.value)
    assert message.startswith("--target: a password in the URI is visible")
    assert "mysql://root@db1:3306" in message and "$MMC_RUNBOOK_PASSWORD_TARGET" in message
    assert "--insecure-password-in-uri" in message
    assert quote(HOSTILE, safe="") not in message and HOSTILE not in message


def test_insecure_flag_accepts_the_uri_password() -> None:
    uri = "mysql://root:" + quote(HOSTILE, safe="") + "@db1:3306"
    args = parse_arguments(
        _parser(), ["--target", uri, "--insecure-password-in-uri"], environ={}, ask=_no_prompt
    )
    assert args.target.client.password == HOSTILE


@pytest.mark.parametrize(
    ("environ", "password"),
    [
        pytest.param({"MMC_RUNBOOK_PASSWORD_BINLOG_SOURCE": HOSTILE}, HOSTILE, id="per-option"),
        pytest.param({"MMC_RUNBOOK_PASSWORD": HOSTILE}, HOSTILE, id="common"),
        pytest.param(
            {"MMC_RUNBOOK_PASSWORD": "common", "MMC_RUNBOOK_PASSWORD_BINLOG_SOURCE": "own"},
            "own",
            id="per-option-wins",
        ),
        pytest.param({"MMC_RUNBOOK_PASSWORD": ""}, "", id="empty-is-no-password"),
    ],
)
def test_uri_password_from_the_environment(environ: dict[str, str], password: str) -> None:
    args = parse_arguments(
        _parser(), ["--binlog-source", "mysql://repl@db1:3307"], environ=environ, ask=_no_prompt
    )
    server = args.binlog_source
    assert (server.client.user, server.client.host, server.client.port) == ("repl", "db1", 3307)
    assert server.client.password == password


def test_uri_password_from_an_option_file(tmp_path: Path) -> None:
    # The kept restore server's root.cnf: the password stays in the file, off argv and env.
    from maintenance_ops.core.pipes import option_file

    cnf = tmp_path / "root.cnf"
    cnf.write_bytes(option_file({"user": "root", "password": 'p"w\\x #1'}))
    uri = f"mysql://root@127.0.0.1:3307?option_file={cnf}"
    args = parse_arguments(_parser(), ["--binlog-source", uri], environ={}, ask=_no_prompt)
    assert args.binlog_source.client.password == 'p"w\\x #1'
    assert args.binlog_source.client.port == 3307
    cnf.write_bytes(option_file({"user": "root"}))
    with pytest.raises((ConfigError, SystemExit)):
        parse_arguments(_parser(), ["--binlog-source", uri], environ={}, ask=_no_prompt)


def test_uri_password_from_the_prompt_names_the_server() -> None:
    asked: list[str] = []

    def ask(text: str) -> str:
        asked.append(text)
        return HOSTILE

    args = parse_arguments(_parser(), ["--target", "mysql://root@db1:3306"], environ={}, ask=ask)
    assert asked == ["Password for root@db1:3306 (--target): "]
    assert args.target.client.password == HOSTILE


def test_without_a_terminal_there_is_no_prompt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    args = parse_arguments(_parser(), ["--target", "mysql://root@db1"], environ={})
    assert args.target.client.password == ""


def test_connection_id_keeps_the_password_in_the_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_MMC_RUNBOOK_CONN",
        json.dumps(
            {"conn_type": "mysql", "host": "db9", "port": 3310, "login": "m", "password": HOSTILE}
        ),
    )
    args = parse_arguments(_parser(), ["--target", "mmc_runbook_conn"], environ={}, ask=_no_prompt)
    assert (args.target.client.host, args.target.client.password) == ("db9", HOSTILE)
    assert str(args.target) == "mmc_runbook_conn (db9:3310)"


def test_no_server_form_shows_the_password() -> None:
    uri = "mysql://root:" + quote(HOSTILE, safe="") + "@db1:3306"
    server = parse_server(uri, allow_password_in_uri=True)
    pending = _parser().parse_args(["--target", uri]).target
    shown = [repr(server), str(server), repr(server.client), repr(server.endpoint), repr(pending)]
    for text in shown:
        assert HOSTILE not in text and quote(HOSTILE, safe="") not in text, text
    assert repr(pending) == "ServerArgument('target', 'mysql://root@db1:3306')"


def test_bad_uri_is_an_argument_error() -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(["--target", "postgres://x@db1"])
