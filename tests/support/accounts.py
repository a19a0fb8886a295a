"""The maintenance account, built exactly as ``include/sql/grants.sql`` says, for tests.

Root only builds fixtures; the code under test connects as this account. Each test gets its
own account (users are global on a server and tests run in parallel), with a password full of
characters that break naive quoting, and loses it at teardown.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from maintenance_ops.core.grants import account_statements

# Quotes, `%` (the driver's format character), `#` and `;` (option-file comment and statement
# syntax), `@:/` (URI syntax), a backslash and non-ASCII: a password that breaks naive quoting.
PASSWORD = "Pw'\"%s#;@:/\\ é-%%"


@dataclass
class Account:
    """A maintenance account on one server, and how to reach it as an Airflow connection."""

    user: str
    host: str = "127.0.0.1"
    port: int = 3306
    password: str = PASSWORD
    schemas: list[str] = field(default_factory=list)
    history_schema: str = "_maintenance"

    def conn_json(self, **extra: Any) -> str:
        """The account as an ``AIRFLOW_CONN_*`` value (JSON form: no URL-encoding of secrets)."""
        return json.dumps(
            {
                "conn_type": "mysql",
                "host": self.host,
                "port": self.port,
                "login": self.user,
                "password": self.password,
                **({"extra": extra} if extra else {}),
            }
        )


def create_account(
    run_root: Callable[[str], Any],
    schemas: Sequence[str],
    history_schema: str,
    *,
    port: int = 3306,
    user: str | None = None,
    skip: Sequence[str] = (),
) -> Account:
    """Create a maintenance account with grants.sql's grants on ``schemas`` and the history schema.

    :param run_root: runs one statement as root on the server.
    :param skip: grants to leave out, as ``PRIV ON scope`` fragments (for the privilege matrix).
    """
    account = Account(
        user or f"mmc_{uuid.uuid4().hex[:12]}",
        port=port,
        schemas=list(schemas),
        history_schema=history_schema,
    )
    for statement in account_statements(
        account.user, "%", account.password, schemas, history_schema
    ):
        if not any(fragment in statement for fragment in skip):
            run_root(statement)
    return account


def drop_account(run_root: Callable[[str], Any], account: Account) -> None:
    run_root(f"DROP USER IF EXISTS '{account.user}'@'%'")
