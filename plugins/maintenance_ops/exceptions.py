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
