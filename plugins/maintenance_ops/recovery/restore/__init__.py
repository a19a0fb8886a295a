"""Restore a backup to a target that is not the source, verify it, and measure RTO and RPO.

A backup is a folder ``<location>/<database>/<stamp>-<tool>/`` holding the tool's output and,
when this package (or an external system following the layout) made it, ``manifest.json``.
The restore test:

1. checks the files against the manifest (sizes and sha256) and the backup's age (RPO);
2. opens a target: a private ephemeral server (default) or a connection marked scratch, which
   is refused when it is the source (by address, then by what the server says about itself:
   :mod:`maintenance_ops.core.identity`, before any statement is written) or holds databases this
   tool did not create;
3. restores with the tool that made the backup (the flavor's client, ``mariadb`` or
   ``mysql``; ``myloader``; or ``mariabackup``), logging progress for long restores. An
   ephemeral server is the backup's flavor (a MySQL 8 dump does not load into MariaDB: its
   ``utf8mb4_0900_ai_ci`` collation, for one, does not exist there), and is refused, naming
   what to install, when no server of that flavor is installed; a scratch server of another
   flavor is refused too;
4. verifies every object of the manifest, ``CHECK TABLE`` and row counts, and the heartbeat;
5. drops what it restored (scratch) or stops the server (ephemeral), also after a failure.

Deciding (which checks failed, which targets were breached) is pure and separate from running.
Passwords reach client tools through an option file read from a pipe, never argv or disk.

Modules, one job each (imports point down this list, never up):

* :mod:`.manifest`: the backup on disk: its manifest, tool, flavor, age and signature;
* :mod:`.targets`: where a restore goes, and the checks that it is never the source;
* :mod:`.loaders`: loading a dump, a mydumper folder or a mariabackup copy, with progress;
* :mod:`.verify`: the checks of a restored copy against its manifest;
* :mod:`.run`: :func:`restore_test`, the orchestration, its result and leftovers' cleanup.

Every public name is importable from ``maintenance_ops.recovery.restore``.
"""

from __future__ import annotations

from maintenance_ops.core.checks import Check

# Imported from here by older callers: kept importable, not part of this package's API.
from maintenance_ops.recovery.backup import verify_files as verify_files
from maintenance_ops.recovery.restore.loaders import (
    CREDENTIALS_PREFIX,
    PROGRESS_INTERVAL_S,
    RESTORE_TIMEOUT_S,
    TICK_INTERVAL_S,
    PreparedInstance,
    Progress,
    decompress_command,
    decompressed_bytes,
    mariadb_command,
    myloader_command,
    proc_io,
    restore_dump,
    restore_mydumper,
)
from maintenance_ops.recovery.restore.loaders import _credentials_file as _credentials_file
from maintenance_ops.recovery.restore.manifest import (
    DUMP_NAMES,
    MANIFEST_NAME,
    TOOLS,
    Tool,
    backup_age_s,
    backup_dialect,
    decryption_secret,
    detect_tool,
    find_dump_file,
    load_manifest,
    rpo_check,
)
from maintenance_ops.recovery.restore.run import (
    VERIFY_WORKERS,
    RestoreTestResult,
    audit_result,
    cleanup_restore_leftovers,
    critical_from,
    restore_test,
    rto_breach,
)
from maintenance_ops.recovery.restore.targets import (
    MARKER_SCHEMA,
    MARKER_TABLE,
    RESTORE_REDO_LOG,
    SYSTEM_SCHEMAS,
    ClientEndpoint,
    EphemeralTarget,
    ScratchTarget,
    TargetHandle,
    check_target_flavor,
    ensure_other_address,
    ephemeral_instance,
    foreign_schemas,
    open_target,
    restore_spec,
    same_server,
    server_flavor,
)
from maintenance_ops.recovery.restore.verify import (
    APPROX_COUNT_TOLERANCE,
    LoadFollower,
    TableChecker,
    TableResult,
    VerifyReport,
    check_table_ok,
    count_mismatch,
    loading_table,
    missing_objects,
    restored_objects,
    split_object,
    verify_restore,
)

__all__ = [
    "APPROX_COUNT_TOLERANCE",
    "CREDENTIALS_PREFIX",
    "Check",
    "ClientEndpoint",
    "DUMP_NAMES",
    "EphemeralTarget",
    "LoadFollower",
    "MANIFEST_NAME",
    "MARKER_SCHEMA",
    "MARKER_TABLE",
    "PROGRESS_INTERVAL_S",
    "PreparedInstance",
    "Progress",
    "RESTORE_REDO_LOG",
    "RESTORE_TIMEOUT_S",
    "RestoreTestResult",
    "SYSTEM_SCHEMAS",
    "ScratchTarget",
    "TICK_INTERVAL_S",
    "TOOLS",
    "TableChecker",
    "TableResult",
    "TargetHandle",
    "Tool",
    "VERIFY_WORKERS",
    "VerifyReport",
    "audit_result",
    "backup_age_s",
    "backup_dialect",
    "check_table_ok",
    "check_target_flavor",
    "cleanup_restore_leftovers",
    "count_mismatch",
    "critical_from",
    "decompress_command",
    "decompressed_bytes",
    "decryption_secret",
    "detect_tool",
    "ensure_other_address",
    "ephemeral_instance",
    "find_dump_file",
    "foreign_schemas",
    "load_manifest",
    "loading_table",
    "mariadb_command",
    "missing_objects",
    "myloader_command",
    "open_target",
    "proc_io",
    "restore_dump",
    "restore_mydumper",
    "restore_spec",
    "restore_test",
    "restored_objects",
    "rpo_check",
    "rto_breach",
    "same_server",
    "server_flavor",
    "split_object",
    "verify_restore",
]
