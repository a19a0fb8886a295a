"""A time limit for statements the server does not bound itself: KILL QUERY of our own one.

MySQL's ``max_execution_time`` bounds read-only SELECTs only, so an ``ALTER TABLE ... FORCE``,
a ``CHECK``/``ANALYZE TABLE`` or a cleanup chunk's ``INSERT``/``DELETE`` could run for hours
although the configuration sets ``statement_timeout_s``. :class:`StatementWatchdog` gives such
a statement a time budget: a timer that, once the budget is spent, opens a second connection
with the same account and sends ``KILL QUERY <our connection id>`` (an account may always kill
its own statements: no SUPER, CONNECTION_ADMIN or RDS procedure needed). The killed statement
fails with error 1317 on our connection; :meth:`StatementWatchdog.bound` turns that into the
error MySQL gives a SELECT over ``max_execution_time`` (3024), which every caller already
treats as "leave it for the next run" (DDL is rolled back by the server, a chunk's transaction
is rolled back). MariaDB needs none of this: ``max_statement_time`` bounds every statement.

The kill is only sent while the statement is still ours to kill: the timer and the end of the
statement share a lock, so a statement that finished first is never followed by a kill.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any

from maintenance_ops.core import sqlexec

log = logging.getLogger(__name__)

ER_QUERY_INTERRUPTED = 1317
ER_QUERY_TIMEOUT = 3024  # what MySQL raises when max_execution_time stops a SELECT


class StatementWatchdog:
    """Kill our own statement once it has run longer than ``budget_s``.

    :param connection_id: ``CONNECTION_ID()`` of the connection whose statements are bounded.
    :param budget_s: seconds a statement may run.
    :param open_killer: opens a second connection (same account) to send the KILL from.
    """

    def __init__(self, connection_id: int, budget_s: float, open_killer: Callable[[], Any]) -> None:
        self.connection_id = int(connection_id)
        self.budget_s = float(budget_s)
        self._open_killer = open_killer
        self.kills = 0  # statements killed, for tests and logs

    @contextmanager
    def bound(self, label: str) -> Iterator[None]:
        """Run the ``with`` body (one statement) under the time budget.

        :param label: what runs (the statement's first words), for the log and the error.
        """
        import MySQLdb

        lock = threading.Lock()
        state = {"running": True, "fired": False}

        def fire() -> None:
            with lock:
                if not state["running"]:
                    return
                state["fired"] = True
                self._kill(label)

        timer = threading.Timer(self.budget_s, fire)
        timer.daemon = True
        timer.start()
        try:
            yield
        except MySQLdb.OperationalError as exc:
            if state["fired"] and exc.args and exc.args[0] == ER_QUERY_INTERRUPTED:
                raise MySQLdb.OperationalError(
                    ER_QUERY_TIMEOUT,
                    f"statement time limit of {self.budget_s:g}s exceeded: {label} was stopped "
                    f"with KILL QUERY {self.connection_id} (maintenance.statement_timeout_s)",
                ) from None
            raise
        finally:
            with lock:
                state["running"] = False
            timer.cancel()

    def _kill(self, label: str) -> None:
        """Send KILL QUERY from a second connection; a failure is logged, never raised."""
        log.warning(
            "statement time limit of %gs exceeded: KILL QUERY %s (%s)",
            self.budget_s,
            self.connection_id,
            label,
        )
        try:
            conn = self._open_killer()
        except Exception as exc:  # noqa: BLE001 - the statement keeps running; say why
            log.error("cannot open a connection to stop %s: %s", label, exc)
            return
        try:
            sqlexec.execute(conn, "KILL QUERY %s", (self.connection_id,))
            self.kills += 1
        except Exception as exc:  # noqa: BLE001 - e.g. the statement ended in between
            log.error("KILL QUERY %s failed: %s", self.connection_id, exc)
        finally:
            with suppress(Exception):
                conn.close()
