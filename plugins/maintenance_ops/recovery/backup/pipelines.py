"""Run the backup tools as pipelines, counting rows alongside when that is safe.

The counts run while the tool runs only for mariadb-dump on MariaDB, which takes no global
lock (it reads its coordinates from ``Binlog_snapshot_*``). mysqldump, mydumper and
mariabackup take ``FLUSH TABLES WITH READ LOCK`` or backup-stage locks, which would wait for
a long ``COUNT(*)`` while every writer queues behind them, so their counts are taken first.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from maintenance_ops.core.processes import BYTE_LOCALE, NEXT, PREVIOUS, Pipeline, Stage
from maintenance_ops.core.tools import supports
from maintenance_ops.recovery.backup.catalog import Catalog
from maintenance_ops.recovery.backup.commands import (
    DUMP_TOOLS,
    credentials_file,
    dump_command,
    mariabackup_command,
    mydumper_command,
    mydumper_post_command,
)
from maintenance_ops.recovery.backup.coordinates import (
    COORDINATE_LINES,
    COORDINATES_NAME,
    BinlogCoordinates,
    parse_dump_binlog,
    parse_mariabackup_binlog,
    parse_mydumper_metadata,
)
from maintenance_ops.recovery.backup.errors import BackupError, ToolStalled
from maintenance_ops.recovery.backup.snapshot import (
    SnapshotState,
    _count_tables,
    counting_snapshot,
    trx_id_counter,
)

if TYPE_CHECKING:
    from maintenance_ops.core.config import BackupSettings
    from maintenance_ops.core.session import MaintenanceSession

log = logging.getLogger(__name__)


_COMPRESSORS: dict[str, tuple[list[str], str]] = {
    "zstd": (["zstd", "-q", "-c", "-T0"], ".zst"),
    "gzip": (["gzip", "-c"], ".gz"),
}
DUMP_STAGES = ("dump", "tee", "coordinates", "compressor")
# The longest a backup tool may run before the whole pipeline is killed.
TOOL_TIMEOUT_S = 12 * 3600.0


def dump_pipeline(
    command: list[str], out: Path, compression: str, *, coordinates: Path, stderr_dir: Path
) -> Pipeline:
    """Return ``command | tee >(grep coordinates > coordinates) | [compressor] > out``, unstarted.

    The coordinates are read from the stream as it is written, wherever they are in it
    (MariaDB writes its GTID position at the end), so the dump is never read back. Every
    hand-off is an OS pipe; the stages are named as in :data:`DUMP_STAGES` (the compressor
    only when compressing).
    """
    read_fd, write_fd = os.pipe()
    packing = compression != "none"
    stages = [
        Stage(command, "dump", stdout=NEXT),
        Stage(
            ["tee", f"/dev/fd/{write_fd}"],
            "tee",
            stdin=PREVIOUS,
            stdout=NEXT if packing else out,
            pass_fds=(write_fd,),
        ),
        # grep exits 1 when it finds no line (no binary log): not a failure.
        Stage(
            ["grep", "-a", "-E", COORDINATE_LINES],
            "coordinates",
            stdin=read_fd,
            stdout=coordinates,
            ok=frozenset({0, 1}),
            env=BYTE_LOCALE,
        ),
    ]
    if packing:
        stages.append(Stage(_COMPRESSORS[compression][0], "compressor", stdin=PREVIOUS, stdout=out))
    return Pipeline(
        stages,
        f"backup with {Path(command[0]).name}",
        timeout_s=TOOL_TIMEOUT_S,
        error=BackupError,
        stderr_dir=stderr_dir,
        side_fds=(read_fd, write_fd),
    )


@dataclass
class _Job:
    """Everything one backup run needs, passed between its steps."""

    session: MaintenanceSession
    conn_id: str
    database_name: str
    schemas: list[str]
    settings: BackupSettings
    staging: Path
    tool: str
    binlog: bool = False
    compression: str = "none"


def _tool_pipeline(job: _Job, defaults_file: str) -> Pipeline:
    stderr_dir = _stderr_dir(job)
    if job.tool in DUMP_TOOLS:
        assert job.session.dialect is not None
        suffix = _COMPRESSORS[job.compression][1] if job.compression != "none" else ""
        binlog_args = (
            job.session.dialect.dump_binlog_args(
                source_data=supports(job.tool, "--source-data"),
                gtid_purged=supports(job.tool, "--set-gtid-purged"),
            )
            if job.binlog
            else []
        )
        command = dump_command(job.tool, defaults_file, job.schemas, binlog_args=binlog_args)
        return dump_pipeline(
            command,
            job.staging / f"dump.sql{suffix}",
            job.compression,
            coordinates=_coordinates_file(job),
            stderr_dir=stderr_dir,
        )
    on_tick = None
    if job.tool == "mydumper":
        command = mydumper_command(
            defaults_file, job.staging / "mydumper", job.schemas, compress=job.compression != "none"
        )
        on_tick = stall_guard(job.staging / "mydumper", job.settings.stall_timeout_s, job.tool)
    else:
        command = mariabackup_command(defaults_file, job.staging / "mariabackup")
    return Pipeline(
        [Stage(command, job.tool)],
        f"backup with {job.tool}",
        timeout_s=TOOL_TIMEOUT_S,
        on_tick=on_tick,
        tick_s=1.0,
        error=BackupError,
        stderr_dir=stderr_dir,
    )


def stall_guard(folder: Path, stall_s: float, tool: str) -> Callable[[], None]:
    """A progress hook raising :class:`ToolStalled` when ``folder`` stops changing for ``stall_s``.

    Progress is any new file or any growth of the folder's files (a big table's file grows).
    """

    def state() -> tuple[int, int]:
        sizes = [p.stat().st_size for p in folder.rglob("*") if p.is_file()]
        return len(sizes), sum(sizes)

    seen, since = (-1, -1), time.monotonic()

    def tick() -> None:
        nonlocal seen, since
        now, current = time.monotonic(), state()
        if current != seen:
            seen, since = current, now
        elif now - since > stall_s:
            raise ToolStalled(
                f"{tool} wrote nothing for {stall_s:g}s (backup.stall_timeout_s): killed"
            )

    return tick


def _stderr_dir(job: _Job) -> Path:
    """Where the tools' stderr files go: beside the staging folder (removed with it)."""
    folder = job.staging.parent / f"{job.staging.name}.stderr"
    folder.mkdir(exist_ok=True)
    return folder


def _coordinates_file(job: _Job) -> Path:
    """Where the dump's coordinate lines are collected: beside the staging folder, not in it."""
    return job.staging.parent / f"{job.staging.name}.{COORDINATES_NAME}"


def _tool_binlog(job: _Job) -> BinlogCoordinates:
    if job.tool in DUMP_TOOLS:
        return parse_dump_binlog(_coordinates_file(job).read_text(errors="replace"))
    if job.tool == "mydumper":
        metadata = job.staging / "mydumper" / "metadata"
        return (
            parse_mydumper_metadata(metadata.read_text(errors="replace"))
            if metadata.exists()
            else BinlogCoordinates()
        )
    info = job.staging / "mariabackup" / "xtrabackup_binlog_info"
    return parse_mariabackup_binlog(info.read_text()) if info.exists() else BinlogCoordinates()


def _effective_compression(tool: str, requested: str) -> str:
    """Return the compression actually applied (mydumper gzips; mariabackup stays raw)."""
    if tool == "mariabackup" or requested == "none":
        return "none"
    if tool == "mydumper":
        return "gzip"  # mydumper 0.10's --compress writes .gz files only
    if requested == "zstd" and not shutil.which("zstd"):
        log.warning("zstd is not installed: compressing the dump with gzip instead")
        return "gzip"
    return requested


def _run_and_count(
    job: _Job, catalog: Catalog
) -> tuple[SnapshotState, BinlogCoordinates, int | None]:
    """Open the counting snapshot and run the tool; count during it only when that is safe."""
    flavor = job.session.dialect.version.flavor if job.session.dialect else "mysql"
    parallel = job.tool in DUMP_TOOLS and flavor == "mariadb"  # no global lock to queue behind
    pipeline: Pipeline | None = None
    with credentials_file(job.conn_id) as defaults_file:
        try:
            with counting_snapshot(job.session) as snap:
                if parallel:
                    pipeline = _tool_pipeline(job, defaults_file).start()
                _count_tables(job.session, snap, catalog.tables)
            if not parallel:
                pipeline = _tool_pipeline(job, defaults_file).start()
            assert pipeline is not None
            try:
                pipeline.wait()
            except ToolStalled as exc:  # mydumper 0.10's random hang: once more, from scratch
                log.warning("%s; running it once more", exc)
                pipeline.close()
                shutil.rmtree(job.staging / job.tool, ignore_errors=True)
                pipeline = _tool_pipeline(job, defaults_file).start()
                pipeline.wait()
        finally:
            if pipeline is not None:
                pipeline.kill()  # no-op once it finished; on any error nothing keeps running
                pipeline.close()
        if job.tool == "mydumper":
            _mydumper_routines_and_events(job, defaults_file, catalog.post_schemas)
    return snap, _tool_binlog(job), trx_id_counter(job.session)


def _mydumper_routines_and_events(job: _Job, defaults_file: str, schemas: set[str]) -> None:
    """Dump the routines and events of each schema holding some, beside the main run's files."""
    for index, schema in enumerate(s for s in job.schemas if s in schemas):
        outdir = job.staging / f".post-{index}"
        command = mydumper_post_command(
            defaults_file, outdir, schema, compress=job.compression != "none"
        )
        stage = Stage(command, "mydumper (routines and events)")
        for attempt in (1, 2):  # mydumper 0.10's random hang: once more, from scratch
            with Pipeline(
                [stage],
                f"backup of the routines and events of {schema}",
                timeout_s=TOOL_TIMEOUT_S,
                on_tick=stall_guard(outdir, job.settings.stall_timeout_s, "mydumper"),
                tick_s=1.0,
                error=BackupError,
                stderr_dir=_stderr_dir(job),
            ) as pipeline:
                try:
                    pipeline.wait()
                    break
                except ToolStalled as exc:
                    if attempt == 2:
                        raise
                    log.warning("%s; running it once more", exc)
                    shutil.rmtree(outdir, ignore_errors=True)
        for post in outdir.glob("*-schema-post.sql*"):
            post.rename(job.staging / "mydumper" / post.name)
        shutil.rmtree(outdir)
