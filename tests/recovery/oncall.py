"""The on-call account of ``include/sql/grants.sql``'s second section, built for the runbook tests.

Root builds the fixtures; the runbooks under test log in as this account, exactly as the file
grants it (or with some grants left out, to see the runbooks name them). Its password reaches
the runbook through ``$MMC_RUNBOOK_PASSWORD``, as an operator's would.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maintenance_ops.core.grants import account_statements, oncall_grants_file
from maintenance_ops.recovery.runbook_cli import PASSWORD_ENV
from tests.support.accounts import PASSWORD

RECOVERY = Path(__file__).resolve().parents[2] / "include" / "recovery"


@dataclass
class OnCall:
    """An on-call account on one server."""

    user: str
    port: int
    password: str = PASSWORD
    left_out: list[str] = field(default_factory=list)

    def url(self, port: int | None = None) -> str:
        """The account's URI without its password (on ``port``: the same account elsewhere)."""
        return f"mysql://{self.user}@127.0.0.1:{port or self.port}"

    def env(self) -> dict[str, str]:
        """The environment a runbook reads the password from."""
        return {**os.environ, PASSWORD_ENV: self.password}


def create_oncall(
    run_root: Callable[..., Any],
    port: int,
    *,
    schemas: Sequence[str] = (),
    skip: Sequence[str] = (),
) -> OnCall:
    """Create the on-call account with grants.sql's on-call grants (``skip``: fragments left out).

    :param run_root: runs one statement as root on the server.
    """
    account = OnCall(f"oc_{uuid.uuid4().hex[:12]}", port, left_out=list(skip))
    statements = account_statements(
        account.user, "%", account.password, list(schemas), "_maintenance",
        grants=oncall_grants_file(),
    )  # fmt: skip
    for statement in statements:
        if not any(fragment in statement for fragment in skip):
            run_root(statement)
    return account


def drop_oncall(run_root: Callable[..., Any], account: OnCall) -> None:
    run_root(f"DROP USER IF EXISTS '{account.user}'@'%'")


def run_runbook(
    script: str,
    *args: str,
    account: OnCall | None = None,
    timeout: float = 120,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``include/recovery/<script>`` as an operator would, as ``account``.

    :param env: more variables (another option's ``MMC_RUNBOOK_PASSWORD_<OPTION>``).
    """
    return subprocess.run(
        [sys.executable, str(RECOVERY / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,  # no terminal: the password comes from the environment
        env={**(account.env() if account else os.environ), **(env or {})},
        check=False,
    )
