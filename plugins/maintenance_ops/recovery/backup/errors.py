"""The exceptions a backup raises."""

from __future__ import annotations

from maintenance_ops.core.exceptions import MaintenanceError, PreflightError


class BackupError(MaintenanceError):
    """A backup tool failed or its output could not be stored."""


class ToolStalled(BackupError):
    """The backup tool wrote nothing for ``backup.stall_timeout_s``: killed."""


class BackupRefused(BackupError, PreflightError):
    """The account cannot see every object the backup must hold; nothing was written."""
