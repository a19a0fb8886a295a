"""The one throttle every long-running action calls between chunks.

Collecting metrics (replica lag, ``Threads_running``, time left, window, cancellation) is kept
apart from deciding: :func:`decide` is a pure function of :class:`Metrics` and :class:`Limits`
that returns a :class:`Decision` with a reason a human can read (``Threads_running=83 >= 50``),
in the manner of gh-ost's throttler: a *wait* limit makes the action sleep, an *abort* limit
stops it. :class:`Throttle` collects, decides and sleeps with backoff; callers call
:meth:`Throttle.checkpoint` between chunks only, so a stop never lands mid-chunk.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from maintenance_ops.core.config import MaintenanceSettings

log = logging.getLogger(__name__)

Action = Literal["proceed", "wait", "stop"]


@dataclass(frozen=True)
class Limits:
    """Thresholds: reaching a ``max_*`` limit waits, reaching an ``abort_*`` limit stops.

    ``None`` switches a check off.
    """

    max_replica_lag_s: float | None = 5.0
    abort_replica_lag_s: float | None = None
    max_threads_running: int | None = 50
    abort_threads_running: int | None = None

    @classmethod
    def from_settings(cls, settings: MaintenanceSettings) -> Limits:
        """Build the wait limits from the ``maintenance`` section of the configuration."""
        return cls(
            max_replica_lag_s=settings.max_replica_lag_s,
            max_threads_running=settings.max_threads_running,
        )


@dataclass(frozen=True)
class Metrics:
    """One sample of everything the throttle looks at.

    ``replica_lag_s`` maps a replica's name to its lag; ``None`` means the lag is unknown
    (replication stopped, not a replica, unreachable) and is explained in ``replica_notes``.
    """

    threads_running: int | None = None
    replica_lag_s: Mapping[str, float | None] = field(default_factory=dict)
    replica_notes: Mapping[str, str] = field(default_factory=dict)
    remaining_s: float | None = None
    in_window: bool = True
    cancelled: bool = False


@dataclass(frozen=True)
class Decision:
    """What to do next, and why (empty reason when proceeding)."""

    action: Action
    reason: str = ""

    def to_dict(self) -> dict[str, str]:
        """Return a JSON-serialisable form."""
        return {"action": self.action, "reason": self.reason}


PROCEED = Decision("proceed")


def decide(metrics: Metrics, limits: Limits) -> Decision:
    """Return whether to proceed, wait or stop, given one sample of metrics.

    Stops (cancellation, time budget, window, abort limits) take precedence over waits, so a
    throttled action whose budget runs out stops instead of sleeping past it.
    """
    stop = _stop_reason(metrics, limits)
    if stop:
        return Decision("stop", stop)
    wait = _wait_reason(metrics, limits)
    if wait:
        return Decision("wait", wait)
    return PROCEED


def _stop_reason(metrics: Metrics, limits: Limits) -> str:
    if metrics.cancelled:
        return "cancelled"
    if metrics.remaining_s is not None and metrics.remaining_s <= 0:
        return f"time budget exhausted ({metrics.remaining_s:.1f}s left)"
    if not metrics.in_window:
        return "outside the maintenance window"
    abort_tr = limits.abort_threads_running
    if abort_tr is not None and metrics.threads_running is not None:
        if metrics.threads_running >= abort_tr:
            return f"Threads_running={metrics.threads_running} >= abort limit {abort_tr}"
    abort_lag = limits.abort_replica_lag_s
    if abort_lag is not None:
        for name, lag in sorted(metrics.replica_lag_s.items()):
            if lag is not None and lag >= abort_lag:
                return f"replica {name} lag={lag:g}s >= abort limit {abort_lag:g}s"
    return ""


def _wait_reason(metrics: Metrics, limits: Limits) -> str:
    if limits.max_replica_lag_s is not None:
        for name, lag in sorted(metrics.replica_lag_s.items()):
            if lag is None:
                note = metrics.replica_notes.get(name) or "lag unknown"
                return f"replica {name}: {note}"
            if lag >= limits.max_replica_lag_s:
                return f"replica {name} lag={lag:g}s >= {limits.max_replica_lag_s:g}s"
    max_tr = limits.max_threads_running
    if max_tr is not None and metrics.threads_running is not None:
        if metrics.threads_running >= max_tr:
            return f"Threads_running={metrics.threads_running} >= {max_tr}"
    return ""


# --------------------------------------------------------------------------------------------
# Collecting metrics
# --------------------------------------------------------------------------------------------


def threads_running(session: Any) -> int:
    """Return the server's ``Threads_running`` (this query's own thread included)."""
    rows = session.query("SHOW GLOBAL STATUS LIKE 'Threads_running'")
    return int(rows[0]["Value"]) if rows else 0


def replica_lag(session: Any) -> tuple[float | None, str]:
    """Return ``(lag seconds, note)`` of a replica session; lag is None when unknown."""
    dialect = session.dialect
    rows = session.query(dialect.replica_status_sql())
    if not rows:
        return None, "not a replica (empty replica status)"
    fields, status = dialect.replica_fields(), dialect.replica_status(rows[0])
    if not (status.io_running and status.sql_running):
        return None, (
            f"replication not running (IO={rows[0].get(fields.io_running)}, "
            f"SQL={rows[0].get(fields.sql_running)})"
        )
    if status.seconds_behind is None:
        return None, "lag unknown (Seconds_Behind is NULL)"
    return status.seconds_behind, ""


class ReplicaProbe:
    """Measure one replica's lag through its own session, opened lazily and reopened on error.

    :param name: the replica's name, for reasons and logs.
    :param open_session: returns an open session to the replica (``query`` and ``dialect``).
    """

    def __init__(self, name: str, open_session: Callable[[], Any]) -> None:
        self.name = name
        self._open = open_session
        self._session: Any = None

    def sample(self) -> tuple[float | None, str]:
        """Return ``(lag, note)``; an unreachable replica is unknown lag, not an exception."""
        try:
            if self._session is None:
                self._session = self._open()
            return replica_lag(self._session)
        except Exception as exc:  # noqa: BLE001 - an unreachable replica throttles, never crashes
            self.close()
            return None, f"unreachable ({type(exc).__name__}: {exc})"

    def close(self) -> None:
        """Close the replica session, if open."""
        session, self._session = self._session, None
        if session is not None:
            try:
                session.close()
            except Exception:  # noqa: BLE001 - closing a dead connection may fail
                pass


# --------------------------------------------------------------------------------------------
# The throttle
# --------------------------------------------------------------------------------------------


class Throttle:
    """Collect metrics, decide, and sleep with backoff while the decision is *wait*.

    :param session: the target session, for ``Threads_running`` (None: not checked).
    :param limits: wait and abort limits.
    :param replicas: replica probes to check for lag.
    :param budget_s: seconds this throttle allows from its creation (None: no budget).
    :param window: returns whether the maintenance window is open (None: always open).
    :param cancel: an event or callable that says the action must stop.
    :param max_wait_s: longest continuous wait before a checkpoint gives up with *stop*.
    :param initial_sleep_s: first backoff sleep; doubled each wait, capped at ``max_sleep_s``.
    :param max_sleep_s: longest single sleep.
    """

    def __init__(
        self,
        session: Any = None,
        limits: Limits | None = None,
        *,
        replicas: Sequence[ReplicaProbe] = (),
        budget_s: float | None = None,
        window: Callable[[], bool] | None = None,
        cancel: threading.Event | Callable[[], bool] | None = None,
        max_wait_s: float = 600.0,
        initial_sleep_s: float = 0.5,
        max_sleep_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        logger: logging.Logger | None = None,
    ) -> None:
        self.session = session
        self.limits = limits or Limits()
        self.replicas = list(replicas)
        self.window = window
        self.cancel = cancel
        self.max_wait_s = max_wait_s
        self.initial_sleep_s = initial_sleep_s
        self.max_sleep_s = max_sleep_s
        self._clock = clock
        self._sleep = sleep
        self.log = logger or log
        self.deadline = None if budget_s is None else clock() + budget_s
        self.waited_s = 0.0
        self.waits = 0
        self.last: Decision = PROCEED

    @classmethod
    def from_settings(
        cls,
        session: Any,
        settings: MaintenanceSettings,
        *,
        replica_conn_ids: Mapping[str, str] | None = None,
        budget_s: float | None = None,
        **kwargs: Any,
    ) -> Throttle:
        """Build a throttle from configuration; ``replica_conn_ids`` maps names to conn ids."""
        from maintenance_ops.core.session import MaintenanceSession

        def opener(conn_id: str) -> Callable[[], Any]:
            def open_session() -> Any:
                replica = MaintenanceSession(conn_id, settings, database_name=conn_id)
                replica.open()
                return replica

            return open_session

        probes = [ReplicaProbe(n, opener(c)) for n, c in (replica_conn_ids or {}).items()]
        return cls(
            session, Limits.from_settings(settings), replicas=probes, budget_s=budget_s, **kwargs
        )

    def remaining_s(self) -> float | None:
        """Return seconds left in the budget (None: no budget)."""
        return None if self.deadline is None else self.deadline - self._clock()

    def _cancelled(self) -> bool:
        if self.cancel is None:
            return False
        if isinstance(self.cancel, threading.Event):
            return self.cancel.is_set()
        return bool(self.cancel())

    def collect(self) -> Metrics:
        """Take one sample of every metric this throttle checks."""
        lags: dict[str, float | None] = {}
        notes: dict[str, str] = {}
        for probe in self.replicas:
            lags[probe.name], notes[probe.name] = probe.sample()
        return Metrics(
            threads_running=threads_running(self.session) if self.session is not None else None,
            replica_lag_s=lags,
            replica_notes=notes,
            remaining_s=self.remaining_s(),
            in_window=self.window() if self.window is not None else True,
            cancelled=self._cancelled(),
        )

    def checkpoint(self) -> Decision:
        """Return *proceed* or *stop*, sleeping with backoff while the decision is *wait*.

        A wait that lasts longer than ``max_wait_s``, or would outlast the time budget,
        becomes a *stop* whose reason says what the action was waiting for.
        """
        started = self._clock()
        pause = self.initial_sleep_s
        while True:
            decision = decide(self.collect(), self.limits)
            if decision.action != "wait":
                self.last = decision
                return decision
            waited = self._clock() - started
            if waited >= self.max_wait_s:
                self.last = Decision("stop", f"throttled for {waited:.0f}s: {decision.reason}")
                return self.last
            pause = self._pause(pause, waited)
            self.log.info("throttle: waiting %.1fs: %s", pause, decision.reason)
            self.waits += 1
            self._sleep(pause)
            self.waited_s += pause
            pause = min(pause * 2, self.max_sleep_s)

    def _pause(self, pause: float, waited: float) -> float:
        """Cap a sleep so it neither outlasts the budget nor the wait limit."""
        pause = min(pause, self.max_sleep_s, self.max_wait_s - waited)
        remaining = self.remaining_s()
        if remaining is not None:
            pause = min(pause, max(remaining, 0.0))
        return max(pause, 0.0)

    def close(self) -> None:
        """Close the replica sessions."""
        for probe in self.replicas:
            probe.close()
