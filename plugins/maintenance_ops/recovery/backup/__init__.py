"""Take backups with a manifest, find the newest one, and keep only what retention allows.

Layout (a documented contract: external systems may follow it, the restore test relies on it)::

    <location>/<database_name>/<UTC %Y%m%dT%H%M%SZ>-<tool>/
        dump.sql.zst | dump.sql.gz | dump.sql      mariadb-dump / mysqldump
        mydumper/                                   mydumper --outputdir (own ``metadata``)
        mariabackup/                                mariabackup --backup --target-dir (raw)
        manifest.json                               written last: its presence means complete

A backup is staged first (beside the final folder for ``file://`` locations, in a local temp
folder otherwise), checksummed, then moved or uploaded; ``manifest.json`` is written last.

A run killed mid-way leaves a ``.staging-*`` folder, which :func:`list_backups` ignores and
:func:`apply_retention` removes once it is a day old.

Modules, one job each (imports point down this list, never up):

* :mod:`.errors`: the exceptions of a backup;
* :mod:`.layout`: the folder layout, stamps, manifests and checksums, listing, retention;
* :mod:`.commands`: the tools' commands and the credentials option file (pure building);
* :mod:`.coordinates`: the binary log coordinates each tool records, parsed;
* :mod:`.grants`: refusing an account that cannot see every object;
* :mod:`.catalog`: the schemas to dump, the heartbeat row, the objects and definitions;
* :mod:`.snapshot`: the counting snapshot and whether its counts are exact;
* :mod:`.transfer`: staging, publishing, downloading, and leftovers of killed runs;
* :mod:`.pipelines`: running the tools (and counting alongside when that is safe);
* :mod:`.run`: :func:`take_backup`, the orchestration.

Every public name is importable from ``maintenance_ops.recovery.backup``.
"""

from __future__ import annotations

from maintenance_ops.recovery.backup.catalog import (
    HEARTBEAT_TABLE,
    Catalog,
    catalog_objects,
    write_heartbeat,
)
from maintenance_ops.recovery.backup.commands import (
    CREDENTIALS_FILE_PREFIX,
    DUMP_TOOLS,
    backup_tool,
    check_tool,
    credentials_file,
    dump_command,
    mariabackup_command,
    mydumper_command,
    mydumper_post_command,
    mydumper_regex,
    tool_option_file,
)
from maintenance_ops.recovery.backup.coordinates import (
    COORDINATE_LINES,
    COORDINATES_NAME,
    BinlogCoordinates,
    parse_dump_binlog,
    parse_mariabackup_binlog,
    parse_mydumper_metadata,
)
from maintenance_ops.recovery.backup.errors import BackupError, BackupRefused, ToolStalled
from maintenance_ops.recovery.backup.grants import (
    backup_grant_problems,
    check_backup_grants,
    routine_grant_missing,
)
from maintenance_ops.recovery.backup.layout import (
    BACKUP_DIR,
    HASH_WORKERS,
    INCOMPLETE_NAME,
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    STAGING_PREFIX,
    STALE_STAGING,
    STAMP_FORMAT,
    BackupInfo,
    apply_retention,
    latest_backup,
    list_backups,
    manifest_complete,
    parse_stamp,
    retention_plan,
    sha256_file,
    verify_files,
)
from maintenance_ops.recovery.backup.layout import _file_table as _file_table
from maintenance_ops.recovery.backup.layout import _storage_path as _storage_path
from maintenance_ops.recovery.backup.pipelines import (
    DUMP_STAGES,
    TOOL_TIMEOUT_S,
    dump_pipeline,
    stall_guard,
)
from maintenance_ops.recovery.backup.run import BackupResult, take_backup
from maintenance_ops.recovery.backup.snapshot import (
    SnapshotState,
    count_rows,
    counting_snapshot,
    counts_exact,
    trx_id_counter,
)
from maintenance_ops.recovery.backup.transfer import (
    FETCHED_PREFIX,
    REMOTE_STAGING_PREFIX,
    cleanup_backup_leftovers,
    download_tree,
    local_copy,
    remove_dead_pid_leftovers,
)
from maintenance_ops.recovery.backup.transfer import _publish as _publish

__all__ = [
    "BACKUP_DIR",
    "BackupError",
    "BackupInfo",
    "BackupRefused",
    "BackupResult",
    "BinlogCoordinates",
    "COORDINATES_NAME",
    "COORDINATE_LINES",
    "CREDENTIALS_FILE_PREFIX",
    "Catalog",
    "DUMP_STAGES",
    "DUMP_TOOLS",
    "FETCHED_PREFIX",
    "HASH_WORKERS",
    "HEARTBEAT_TABLE",
    "INCOMPLETE_NAME",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "REMOTE_STAGING_PREFIX",
    "STAGING_PREFIX",
    "STALE_STAGING",
    "STAMP_FORMAT",
    "SnapshotState",
    "TOOL_TIMEOUT_S",
    "ToolStalled",
    "apply_retention",
    "backup_grant_problems",
    "backup_tool",
    "catalog_objects",
    "check_backup_grants",
    "check_tool",
    "cleanup_backup_leftovers",
    "count_rows",
    "counting_snapshot",
    "counts_exact",
    "credentials_file",
    "download_tree",
    "dump_command",
    "dump_pipeline",
    "latest_backup",
    "list_backups",
    "local_copy",
    "manifest_complete",
    "mariabackup_command",
    "mydumper_command",
    "mydumper_post_command",
    "mydumper_regex",
    "parse_dump_binlog",
    "parse_mariabackup_binlog",
    "parse_mydumper_metadata",
    "parse_stamp",
    "remove_dead_pid_leftovers",
    "retention_plan",
    "routine_grant_missing",
    "sha256_file",
    "stall_guard",
    "take_backup",
    "tool_option_file",
    "trx_id_counter",
    "verify_files",
    "write_heartbeat",
]
