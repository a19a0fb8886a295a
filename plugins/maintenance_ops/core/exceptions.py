"""One exception hierarchy for the package: every message names the object and the fix."""

from __future__ import annotations


class MaintenanceError(Exception):
    """Base of every error this package raises; messages name the object and the fix."""


class ConfigError(MaintenanceError):
    """The configuration file is missing, malformed or names something impossible."""


class IdentifierError(ConfigError):
    """A table, column or schema name is not a safe MySQL identifier."""


class ConnectionFailed(MaintenanceError):
    """A database could not be reached; retryable."""


class PreflightError(MaintenanceError):
    """A database is reachable but not fit to run this DAG (missing privilege, wrong flavor)."""


class SafetyAbort(MaintenanceError):
    """An action stopped itself because going on could hurt the server or its data."""


class VerificationError(MaintenanceError):
    """A check found something wrong (corruption, missing object, mismatched count)."""


class InstanceError(MaintenanceError):
    """A private server instance could not be started or stopped."""


# Our own refusals: the configuration, the account or the data must change before a rerun helps.
FINAL_ERRORS: tuple[type[MaintenanceError], ...] = (
    ConfigError,
    PreflightError,
    SafetyAbort,
    VerificationError,
)

# Server error codes a retry cannot fix, with what must change. Lost connections (2002, 2003,
# 2006, 2013), lock wait timeouts (1205) and deadlocks (1213) are not here: they pass.
FINAL_ERROR_CODES: dict[int, str] = {
    1044: "the account may not use that database: grant it (include/sql/grants.sql)",
    1045: "the server refused the login: fix the connection's user and password",
    1698: "the server refused the login: fix the connection's user and authentication",
    1049: "the database does not exist: fix the connection's schema or create the database",
    1142: "the account lacks a table privilege: grant it (include/sql/grants.sql)",
    1143: "the account lacks a column privilege: grant it (include/sql/grants.sql)",
    1227: "the account lacks a privilege: grant it (include/sql/grants.sql)",
    1370: "the account lacks a routine privilege: grant it (include/sql/grants.sql)",
}


def error_code(exc: BaseException) -> int | None:
    """Return the server or client error code of a MySQL driver error, else None."""
    args = getattr(exc, "args", ())
    if args and isinstance(args[0], int) and type(exc).__module__.startswith("MySQLdb"):
        return args[0]
    return None


def final_reason(exc: BaseException) -> str | None:
    """Return why retrying ``exc`` cannot help (what must change first), or None if it might.

    The one classification of failures: our own refusals (:data:`FINAL_ERRORS`) and the server
    errors of :data:`FINAL_ERROR_CODES` are final. A driver error wrapped in one of ours (a
    :class:`ConnectionFailed` raised while handling it) is classified by the driver's code.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, FINAL_ERRORS):
            return "the error above says what to fix; a rerun does the same until then"
        code = error_code(current)
        if code is not None:
            return FINAL_ERROR_CODES.get(code)
        # Our wrappers are raised while handling the driver's error (``from None`` hides it
        # from tracebacks, not from ``__context__``): the wrapped error decides.
        wrapped = current.__cause__
        if wrapped is None and isinstance(current, MaintenanceError):
            wrapped = current.__context__
        current = wrapped
    return None
