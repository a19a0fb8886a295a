# ruff: noqa: S608 - SQL here is built from the benchmark's own constants
"""Benchmark: our whole restore-verify against the tool's own raw restore of the same backup.

Run it from the repository root (needs mariadbd, zstd and the backup tools)::

    .venv/bin/python bench/restore_verify.py                   # 1 GB database, print Markdown
    .venv/bin/python bench/restore_verify.py --size-gb 0.3     # a quicker, smaller run
    .venv/bin/python bench/restore_verify.py --write           # also update docs/benchmarks.md

Everything happens in one run on private MariaDB servers (``MySQLInstance``), never on a shared
server. A source server (binlog on, 1 GiB buffer pool) gets a generated database of at least
``--size-gb`` GB (InnoDB data + index files of schema ``bench``). Then, for each tool available
(mariadb-dump, mydumper, mariabackup):

1. one backup with ``take_backup`` (what the daily DAG runs), timed, its size summed;
2. the *raw* restore of that same backup by the tool alone into a fresh private server
   (``zstd -dc | mariadb``, ``myloader --threads 2 --overwrite-tables``, or copy +
   ``mariabackup --prepare`` + server start on the copy);
3. our ``restore_test`` on the same backup: server start, file checksums, restore, every check,
   teardown; the wall time of the whole call.

Server start is *included* in the raw time for every tool (for mariabackup the server start is
the restore), and shown separately. Both restores use the same server configuration (the
``restore_spec()`` that ``restore_test``'s ephemeral target uses: 1 GiB buffer pool, 256 MiB redo).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchlib import DOC, ROOT, machine, root_option_file, write_section

sys.path.insert(0, str(ROOT / "plugins"))

from maintenance_ops.core.config import BackupSettings, MaintenanceSettings, RestoreTarget  # noqa: E402
from maintenance_ops.core.identity import identify_source  # noqa: E402
from maintenance_ops.core.instance import InstanceSpec, MySQLInstance  # noqa: E402
from maintenance_ops.core.session import MaintenanceSession  # noqa: E402
from maintenance_ops.recovery.backup import take_backup  # noqa: E402
from maintenance_ops.recovery.restore import PreparedInstance, restore_spec, restore_test  # noqa: E402
from maintenance_ops.recovery.restore.run import VERIFY_WORKERS  # noqa: E402

SECTION = "## Restore verification (issue 6)"
DB = "bench"
HISTORY = "_maintenance"
CONN_ID = "bench_src"
TABLES = ("orders", "events", "customers", "notes")
CHUNK_ROWS = 250_000
TOOLS = ("mariadb-dump", "mydumper", "mariabackup")
GOAL = 1.15

TABLE_DDL = (
    "CREATE TABLE {db}.{name} (id BIGINT NOT NULL PRIMARY KEY, account_id INT NOT NULL, "
    "created DATETIME NOT NULL, status VARCHAR(16) NOT NULL, token CHAR(32) NOT NULL, "
    "payload VARCHAR(255) NOT NULL, KEY by_account (account_id, created)) ENGINE=InnoDB"
)


@dataclass
class Outcome:
    """One tool's measurements."""

    tool: str
    backup_s: float
    backup_mb: float
    raw_start_s: float
    raw_load_s: float
    raw_s: float
    read_s: float  # one read of the data after the raw restore (mariabackup only)
    baseline_s: float  # what the goal compares with: raw, or raw + one read for mariabackup
    ours_s: float
    ratio: float
    ours_target_s: float
    ours_restore_s: float
    verify_s: float
    teardown_s: float
    ours_mb_s: float
    data_mb_s: float
    ok: bool
    note: str = ""


# --------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------


def ibd_bytes(inst: MySQLInstance) -> int:
    """Return the bytes of the ``bench`` schema's InnoDB files (data + indexes)."""
    return sum(p.stat().st_size for p in (Path(inst.datadir) / DB).glob("*.ibd"))


def generate(inst: MySQLInstance, size_gb: float) -> tuple[int, int]:
    """Fill ``bench`` until its files reach ``size_gb`` GB; return (rows, bytes)."""
    inst.execute(f"CREATE DATABASE IF NOT EXISTS {DB}")
    for name in TABLES:
        inst.execute(TABLE_DDL.format(db=DB, name=name))
    target = int(size_gb * 1e9)
    next_id = dict.fromkeys(TABLES, 1)
    rows = 0
    i = 0
    while ibd_bytes(inst) < target:
        name = TABLES[i % len(TABLES)]
        start = next_id[name]
        end = start + CHUNK_ROWS - 1
        # Half random (compresses poorly), half repetitive (compresses well): a dump of it
        # compresses about 4x with zstd, like ordinary application data.
        inst.execute(
            f"INSERT INTO {DB}.{name} SELECT seq, FLOOR(RAND() * 100000), "
            f"'2024-01-01' + INTERVAL seq SECOND, ELT(1 + seq MOD 3, 'new', 'paid', 'shipped'), "
            f"MD5(RAND()), CONCAT(REPEAT(MD5(seq MOD 1000), 3), MD5(RAND())) "
            f"FROM {DB}.seq_{start}_to_{end}"
        )
        next_id[name] = end + 1
        rows += CHUNK_ROWS
        i += 1
    inst.execute(
        f"CREATE VIEW {DB}.recent_orders AS SELECT id, status FROM {DB}.orders "
        "WHERE created > '2024-01-02'"
    )
    inst.execute("FLUSH TABLES")
    return rows, ibd_bytes(inst)


# --------------------------------------------------------------------------------------------
# Raw restores: the tool alone
# --------------------------------------------------------------------------------------------


def run(cmd: list[str] | str, **kw: Any) -> None:
    done = subprocess.run(cmd, capture_output=True, text=True, check=False, **kw)
    if done.returncode != 0:
        raise RuntimeError(f"{cmd!r} failed ({done.returncode}): {done.stderr[-800:]}")


def raw_restore(tool: str, backup: Path) -> tuple[float, float, float, int]:
    """Restore ``backup`` with the tool alone; return (start s, load s, read s, rows in bench).

    The read is mariabackup's only (0 for the others): :func:`one_read` right after the
    server starts on the prepared copy.
    """
    if tool == "mariabackup":
        # Copy, --prepare and server start on the copy: that is the restore.
        inst: MySQLInstance = PreparedInstance(backup / "mariabackup")
        began = time.monotonic()
        inst.start()
        total = time.monotonic() - began
        ready = inst.timings.get("start_to_ready_s", 0.0)
        try:
            read_s, rows = one_read(inst)
            return ready, total - ready, read_s, rows
        finally:
            inst.stop()
    inst = MySQLInstance(restore_spec())
    began = time.monotonic()
    inst.start()
    start_s = time.monotonic() - began
    try:
        began = time.monotonic()
        if tool == "mariadb-dump":
            run(
                [
                    "bash",
                    "-o",
                    "pipefail",
                    "-c",
                    'zstd -dc "$1" | mariadb --defaults-file="$3" --socket="$2" '
                    "--default-character-set=utf8mb4 --binary-mode --batch",
                    "raw",
                    str(backup / "dump.sql.zst"),
                    inst.socket,
                    str(root_option_file(inst)),
                ]
            )
        else:
            run(
                [
                    "myloader",
                    f"--defaults-file={root_option_file(inst)}",
                    "-d",
                    str(backup / "mydumper"),
                    "-h",
                    "127.0.0.1",
                    "-P",
                    str(inst.port),
                    "--threads",
                    "2",
                    "--overwrite-tables",
                ]
            )
        load_s = time.monotonic() - began
        return start_s, load_s, 0.0, count_rows(inst)
    finally:
        inst.stop()


def count_rows(inst: MySQLInstance) -> int:
    return sum(int(inst.execute(f"SELECT COUNT(*) FROM {DB}.{t}")[0][0]) for t in TABLES)


def one_read(inst: MySQLInstance) -> tuple[float, int]:
    """Read every row of every table once, as ``restore_test`` does, on a cold server.

    ``SELECT COUNT(*) ... FORCE INDEX (PRIMARY)``: InnoDB's clustered index *is* the table's
    rows, so every data page is read from the files (each page's checksum verified by InnoDB
    as it is read) and every row visited, and nothing else is done with it. A plain
    ``COUNT(*)`` would scan the smallest secondary index instead and never touch the rows.
    Tables are read ``VERIFY_WORKERS`` at a time, on that many connections, as ours checks
    them. Return (seconds, rows).
    """

    def read(share: tuple[str, ...]) -> int:
        conn = inst.connect()
        try:
            cur = conn.cursor()
            total = 0
            for name in share:
                cur.execute(f"SELECT COUNT(*) FROM {DB}.{name} FORCE INDEX (PRIMARY)")
                total += int(cur.fetchone()[0])
            return total
        finally:
            conn.close()

    shares = [TABLES[i::VERIFY_WORKERS] for i in range(VERIFY_WORKERS)]
    began = time.monotonic()
    with ThreadPoolExecutor(max_workers=VERIFY_WORKERS) as pool:
        rows = sum(pool.map(read, shares))
    return time.monotonic() - began, rows


# --------------------------------------------------------------------------------------------
# One tool
# --------------------------------------------------------------------------------------------


def bench_tool(tool: str, location: Path, source: Any, rows: int, data_bytes: int) -> Outcome:
    settings = BackupSettings(
        enabled=True, location=location.as_uri(), tool=tool, compression="zstd"
    )
    with MaintenanceSession(CONN_ID, MaintenanceSettings()) as session:
        began = time.monotonic()
        backup = take_backup(
            session,
            conn_id=CONN_ID,
            database_name=DB,
            schemas=[DB],
            history_schema=HISTORY,
            settings=settings,
        )
        backup_s = time.monotonic() - began
        assert session.endpoint is not None
        source = identify_source(session.conn, session.endpoint, HISTORY)
    path = Path(str(backup.path).removeprefix("file://"))
    os.sync()  # the backup's writeback must not slow whichever restore comes first
    print(f"[{tool}] backup {backup_s:.1f}s {backup.bytes / 1e6:.0f} MB at {path}", flush=True)

    raw_start, raw_load, read_s, raw_rows = raw_restore(tool, path)
    raw_s = raw_start + raw_load
    print(
        f"[{tool}] raw restore {raw_s:.1f}s (start {raw_start:.1f}s), one read {read_s:.1f}s, "
        f"{raw_rows} rows",
        flush=True,
    )

    began = time.monotonic()
    result = restore_test(
        path,
        backup.manifest,
        target=RestoreTarget(),
        source=source,
        settings=settings,
        now=datetime.now(UTC),
        database_name=DB,
    )
    ours_s = time.monotonic() - began
    print(f"[{tool}] ours {ours_s:.1f}s ok={result.ok} critical={result.critical}", flush=True)
    note = ""
    if raw_rows != rows:
        note += f"raw restore has {raw_rows:,} of {rows:,} rows; "
    if not result.ok:
        note += "restore-verify critical: " + "; ".join(result.critical)
    restore_s = result.restore_s or 0.0
    return Outcome(
        tool=tool,
        backup_s=round(backup_s, 1),
        backup_mb=round(backup.bytes / 1e6, 0),
        raw_start_s=round(raw_start, 1),
        raw_load_s=round(raw_load, 1),
        raw_s=round(raw_s, 1),
        read_s=round(read_s, 1),
        baseline_s=round(raw_s + read_s, 1),
        ours_s=round(ours_s, 1),
        ratio=round(ours_s / (raw_s + read_s), 2),
        ours_target_s=round(result.target_s or 0.0, 1),
        ours_restore_s=round(restore_s, 1),
        verify_s=round(result.verify_s or 0.0, 1),
        teardown_s=round(result.teardown_s or 0.0, 1),
        ours_mb_s=round(result.throughput_mb_s or 0.0, 1),
        data_mb_s=round(data_bytes / 1e6 / restore_s, 1) if restore_s else 0.0,
        ok=result.ok,
        note=note.strip("; "),
    )


# --------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------


def table(outcomes: list[Outcome]) -> str:
    head = (
        "| Tool | Backup s | Backup MB | Raw restore s (start + load) | One read s | "
        "Baseline s | Ours s | Ratio | Ours: start / restore / verify / teardown s | "
        "Restore MB/s (tool bytes) | Restore MB/s (data) | Checks |\n"
        "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---|"
    )
    lines = [
        f"| {o.tool} | {o.backup_s} | {o.backup_mb:.0f} | {o.raw_s} ({o.raw_start_s} + "
        f"{o.raw_load_s}) | {o.read_s if o.tool == 'mariabackup' else '-'} | {o.baseline_s} | "
        f"{o.ours_s} | {o.ratio:.2f}x | {o.ours_target_s} / "
        f"{o.ours_restore_s} / {o.verify_s} / {o.teardown_s} | {o.ours_mb_s} | {o.data_mb_s} | "
        f"{'all pass' if o.ok else 'FAIL'}{': ' + o.note if o.note else ''} |"
        for o in outcomes
    ]
    return "\n".join([head, *lines])


def gaps(outcomes: list[Outcome]) -> str:
    """Split each tool's ours - baseline into its parts (they add up to the difference)."""
    lines = []
    for o in outcomes:
        start = 0.0 if o.tool == "mariabackup" else o.ours_target_s  # in restore for mariabackup
        restore = start + o.ours_restore_s - o.raw_s
        other = o.ours_s - start - o.ours_restore_s - o.verify_s - o.teardown_s
        verify = (
            f"verify {o.verify_s:.1f} s - one read {o.read_s:.1f} s = "
            f"{o.verify_s - o.read_s:+.1f} s"
            if o.tool == "mariabackup"
            else f"verify {o.verify_s:.1f} s"
        )
        lines.append(
            f"- {o.tool}: {o.ours_s - o.baseline_s:+.1f} s = start + restore {restore:+.1f} s "
            f"(ours {start + o.ours_restore_s:.1f} s vs raw {o.raw_s:.1f} s), {verify}, "
            f"teardown {o.teardown_s:.1f} s, file checksums and the rest {other:.1f} s."
        )
    return "Where ours differs from the baseline:\n\n" + "\n".join(lines)


def verdict(outcomes: list[Outcome]) -> str:
    met = [o.tool for o in outcomes if o.ratio <= GOAL]
    missed = [f"{o.tool} ({o.ratio:.2f}x)" for o in outcomes if o.ratio > GOAL]
    text = f"Goal ≤ {GOAL:.2f}x the baseline: met by {', '.join(met) or 'none'}"
    text += f"; missed by {', '.join(missed)}." if missed else "."
    physical = next((o for o in outcomes if o.tool == "mariabackup"), None)
    if physical is not None:
        text += (
            f" mariabackup is held to its raw restore plus one read of the data ("
            f"{physical.raw_s:.1f} + {physical.read_s:.1f} s), as issue 16 restates its goal: "
            "the raw restore alone never reads the rows, and a restore test must."
        )
    if physical is not None and physical.ratio > GOAL:
        text += (
            f" mariabackup's gap: {physical.ours_s - physical.baseline_s:.1f} s over "
            f"{physical.baseline_s:.1f} s, split above: what `CHECK TABLE` (every index, "
            "validated) and the exact count add to reading the rows, the sha256 of every "
            "backup file (taken while it is copied) and the teardown."
        )
    return text


def report(
    args: argparse.Namespace,
    version: str,
    rows: int,
    data_bytes: int,
    outcomes: list[Outcome],
    skipped: list[str],
    loads: tuple[tuple[float, ...], tuple[float, ...]],
) -> str:
    command = " ".join([".venv/bin/python", "bench/restore_verify.py", *sys.argv[1:]])
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    m = machine()
    host = f"{m['nproc']} CPUs ({m['cpu']}), {m['memory']} RAM, {m['system']}"
    load = ", ".join(
        f"{label} {' / '.join(f'{x:.2f}' for x in values)}"
        for label, values in zip(("before", "after"), loads, strict=True)
    )
    small = (
        f"\n**Smaller than the 1 GB the issue asks for** (`--size-gb {args.size_gb:g}`, run "
        "short of time): re-run without `--size-gb` for the full-size figures.\n"
        if args.size_gb < 1.0
        else ""
    )
    skip = f" Not installed, so not measured: {', '.join(skipped)}." if skipped else ""
    return f"""{SECTION}

Written by `bench/restore_verify.py` on {when}; machine: {host}; load average (1/5/15 min)
{load}; server: private MariaDB {version}. Command: `{command}`.
{small}
Source: a private server (`MySQLInstance`, binlog on, 1 GiB buffer pool) holding schema
`{DB}`: {len(TABLES)} InnoDB tables, {rows:,} rows in all (id, int, datetime, short string,
a random 32-char token and a 128-char half-repetitive payload; a secondary index per table)
and a view, {data_bytes / 1e9:.2f} GB of InnoDB files. Each tool's backup is taken with
`take_backup` (zstd for the dump, mydumper's own gzip, raw mariabackup). Then, in the same
run and on the same backup files (just written, so in the page cache for both):

- **Raw restore**: the tool alone into a fresh private server with `restore_test`'s own
  server configuration (`restore_spec()`: 1 GiB buffer pool, 256 MiB redo log, binlog off).
  mariadb-dump: `zstd -dc dump.sql.zst | mariadb --socket ...`; mydumper: `myloader -d <dir>
  -h 127.0.0.1 -P <port> -u root --threads 2 --overwrite-tables` (reads the .gz files
  itself); mariabackup: copy of the backup + `mariabackup --prepare` + server start on it
  (`PreparedInstance`). **Server start is included** for every tool (for mariabackup it is
  the restore) and shown separately: "start" is the fresh server's start for the logical
  tools, the server's start on the prepared copy for mariabackup (copy + prepare is "load").
- **Baseline** (what the goal compares with): the raw restore for mariadb-dump and mydumper,
  whose raw restores re-create every row (they cannot finish without reading all the data).
  For mariabackup, whose raw restore copies files, applies the redo log and starts a server
  without ever reading the rows, the raw restore **plus one read of the data** ("one read"):
  on that server, `SELECT COUNT(*) FROM t FORCE INDEX (PRIMARY)` for every table,
  {VERIFY_WORKERS} tables at a time. The clustered index holds the rows, so every data page
  is read from the files and its checksum verified by InnoDB, and every row visited: the
  least a DBA would accept as proof that a physical copy's data can be read (a plain
  `COUNT(*)` scans the smallest secondary index and never touches the rows; `CHECKSUM TABLE`
  reads the same pages but also decodes and hashes every value, about 5x the CPU on pages
  already in memory in a trial on this data: stricter than the minimum, so a softer
  baseline). Teardown is not in any baseline.
- **Ours**: the wall time of one `restore_test(...)` call: ephemeral server start, sha256 of
  every file, restore, every check (objects, `CHECK TABLE` per table, exact row counts,
  heartbeat), teardown. Its breakdown is `restore_test`'s own: start (for mariabackup: copy +
  prepare + start), restore (for mariabackup the same copy + prepare + start), verify,
  teardown; what is left is the sha256 of every file. For mariabackup the files are hashed
  while they are copied for `--prepare` (nothing is prepared before they pass), so their
  sha256 is inside its start. Checks that follow the restore (mydumper, mariabackup) run
  each table's exact count beside its `CHECK TABLE`, on a connection of its own,
  {VERIFY_WORKERS} tables at a time; while the dump loads, the tables it has moved past are
  checked and counted with at most {VERIFY_WORKERS} statements at once, as before.
- Restore MB/s (tool bytes) is `restore_test`'s throughput: uncompressed SQL for
  mariadb-dump, the backup's (gzipped) files for mydumper, the raw backup files for
  mariabackup, each over its restore time; (data) is the source's InnoDB bytes over the same
  time. Ratio = ours / baseline; the goal is ≤ {GOAL:.2f}x (issue 6; for mariabackup as
  restated by issue 16).{skip}

{table(outcomes)}

{gaps(outcomes)}

{verdict(outcomes)}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-gb", type=float, default=1.0, help="database size (default 1.0)")
    parser.add_argument("--tools", default=",".join(TOOLS), help="comma-separated tools")
    parser.add_argument("--write", action="store_true", help=f"update {DOC.relative_to(ROOT)}")
    parser.add_argument("--json", type=Path, help="also write the raw outcomes here")
    args = parser.parse_args()
    wanted = [t for t in args.tools.split(",") if t]
    tools = [t for t in wanted if shutil.which(t)]
    skipped = [t for t in wanted if t not in tools]
    if "mydumper" in tools and not shutil.which("myloader"):
        tools.remove("mydumper")
        skipped.append("mydumper (no myloader)")
    load_before = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="bench-restore-verify-"))
    source = MySQLInstance(InstanceSpec(binlog=True, innodb_buffer_pool_size="1G"))
    try:
        source.start()
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = source.airflow_conn_uri()
        began = time.monotonic()
        rows, data_bytes = generate(source, args.size_gb)
        print(
            f"generated {rows:,} rows, {data_bytes / 1e9:.2f} GB in "
            f"{time.monotonic() - began:.0f}s",
            flush=True,
        )
        version = source.version
        outcomes = [bench_tool(t, work / "backups", source, rows, data_bytes) for t in tools]
    finally:
        source.stop()
        shutil.rmtree(work, ignore_errors=True)
    text = report(
        args, version, rows, data_bytes, outcomes, skipped, (load_before, os.getloadavg())
    )
    print(text)
    if args.json:
        args.json.write_text(json.dumps([asdict(o) for o in outcomes], indent=2))
    if args.write:
        write_section(SECTION, text)
        print(f"wrote {SECTION!r} in {DOC}")


if __name__ == "__main__":
    main()
