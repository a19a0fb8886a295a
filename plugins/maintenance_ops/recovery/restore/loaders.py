"""Load a backup into a target: a streamed dump, a mydumper folder, a prepared mariabackup copy."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from maintenance_ops.core import processes
from maintenance_ops.core.exceptions import VerificationError
from maintenance_ops.core.instance import DEFAULT_BASE_PREFIX, InstanceSpec, MySQLInstance
from maintenance_ops.core.pipes import private_option_file, secret_pipe
from maintenance_ops.core.processes import NEXT, PREVIOUS, Pipeline, Stage
from maintenance_ops.recovery.backup import HASH_WORKERS, sha256_file
from maintenance_ops.recovery.restore.targets import ClientEndpoint, restore_spec

log = logging.getLogger(__name__)


PROGRESS_INTERVAL_S = 10.0
TICK_INTERVAL_S = 0.5
# The longest a restore tool may run before the whole pipeline is killed.
RESTORE_TIMEOUT_S = 12 * 3600.0
CREDENTIALS_PREFIX = "mmc-restore-cred-"


@dataclass
class Progress:
    """Bytes moved by a restore, shared between the pump threads and the logger."""

    total: int
    read: int = 0
    uncompressed: int = 0
    started: float = field(default_factory=time.monotonic)

    def line(self) -> str:
        """Return a progress line: bytes read of total, rate and ETA."""
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.read / elapsed
        eta = (self.total - self.read) / rate if rate > 0 else float("inf")
        pct = 100.0 * self.read / self.total if self.total else 100.0
        return (
            f"{self.read / 1e6:.1f}/{self.total / 1e6:.1f} MB read ({pct:.0f}%), "
            f"{rate / 1e6:.1f} MB/s, ETA {eta:.0f}s"
        )


def decompress_command(path: Path) -> list[str] | None:
    """Return the command that decompresses ``path`` from stdin, or None for plain SQL."""
    if path.suffix == ".zst":
        return ["zstd", "-dc"]
    if path.suffix == ".gz":
        return ["gzip", "-dc"]
    return None


def mariadb_command(option_fd: int, client: ClientEndpoint, tool: str = "mariadb") -> list[str]:
    """Return the client command reading its credentials from the pipe ``option_fd``.

    ``--binary-mode`` passes binary strings and mariadb-binlog's BINLOG statements untouched.
    """
    # --defaults-file must come first and keeps /etc/mysql's client options out.
    return [
        tool,
        f"--defaults-file=/dev/fd/{option_fd}",
        *client.address_args(),
        "--default-character-set=utf8mb4",
        "--binary-mode",
        "--batch",
    ]


def myloader_command(
    directory: Path, client: ClientEndpoint, credentials: Path | None, threads: int = 2
) -> list[str]:
    """Return the ``myloader`` command for a mydumper folder (TCP, as its docs advise)."""
    defaults = [f"--defaults-file={credentials}"] if credentials else []
    return [
        "myloader",
        *defaults,
        *client.address_args(tcp=True),
        "-d",
        str(directory),
        "--threads",
        str(threads),
        "--overwrite-tables",
        "--verbose",
        "2",
    ]


@contextlib.contextmanager
def _credentials_file(client: ClientEndpoint, section: str) -> Iterator[Path | None]:
    """Yield a private option file holding the password, removed afterwards; None if no password.

    myloader re-reads its option file for every worker connection, so a pipe (read once)
    would leave the workers without credentials, or worse, on the default local socket.
    """
    if not client.password:
        yield None
        return
    with private_option_file(client.option_file(section), CREDENTIALS_PREFIX) as path:
        yield path


def proc_io(pid: int) -> dict[str, int]:
    """Return a process's ``/proc/<pid>/io`` counters (``rchar``, ``wchar``...); {} once gone."""
    try:
        text = Path(f"/proc/{pid}/io").read_text()
    except OSError:
        return {}
    counters = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if value.strip().isdigit():
            counters[key] = int(value)
    return counters


_ZSTD_BYTES = re.compile(rb":\s*(\d+) bytes\s*$", re.MULTILINE)


def decompressed_bytes(stderr: bytes) -> int | None:
    """Return the byte count that ``zstd -v -dc`` prints when it finishes, if it did."""
    found = _ZSTD_BYTES.findall(stderr)
    return int(found[-1]) if found else None


class _Watch:
    """The restore pipeline's progress hook: bytes read and decompressed, a log line, the tick.

    Reads the kernel's per-process I/O counters of the stage reading the dump (only while it
    runs: a reaped process's pid may already belong to another one).
    """

    def __init__(self, progress: Progress, on_tick: Callable[[], None] | None, unzip: bool) -> None:
        self.progress = progress
        self.on_tick = on_tick
        self.unzip = unzip
        self.pipeline: Pipeline | None = None
        self.last_log = self.last_tick = time.monotonic()

    def __call__(self) -> None:
        assert self.pipeline is not None
        progress, now = self.progress, time.monotonic()
        if self.on_tick is not None and now - self.last_tick >= TICK_INTERVAL_S:
            self.last_tick = now
            self.on_tick = _tick(self.on_tick)
        reader = self.pipeline.procs[0]
        if reader.returncode is None:
            progress.read = min(proc_io(reader.pid).get("rchar", 0), progress.total)
            if self.unzip:
                written = proc_io(reader.pid).get("wchar", 0)
                progress.uncompressed = max(progress.uncompressed, written)
        if now - self.last_log >= PROGRESS_INTERVAL_S:
            self.last_log = now
            log.info("restore progress: %s", progress.line())


def _tick(on_tick: Callable[[], None]) -> Callable[[], None] | None:
    """Call ``on_tick``; a failing one is logged and dropped, never failing the restore."""
    try:
        on_tick()
    except Exception:  # noqa: BLE001 - a helper of the restore, not the restore
        log.warning(
            "restore follower failed; tables will be checked after the restore", exc_info=True
        )
        return None
    return on_tick


def restore_dump(
    dump: Path,
    client: ClientEndpoint,
    *,
    on_tick: Callable[[], None] | None = None,
    client_tool: str = "mariadb",
) -> int:
    """Stream a (compressed) dump into the client; return the uncompressed bytes restored.

    The decompressor reads the file itself and writes straight into the client's stdin: no
    byte passes through Python. Progress comes from the kernel's per-process I/O counters.

    :param on_tick: called about twice a second while the restore runs.
    :param client_tool: ``mariadb`` or ``mysql``: the target flavor's ``Dialect.client_tool``.
    """
    progress = Progress(total=dump.stat().st_size)
    decompress = decompress_command(dump)
    stages: list[Stage] = []
    if decompress is not None:
        verbose = ["-v"] if decompress[0] == "zstd" else []
        stages.append(Stage([*decompress, *verbose, "--", str(dump)], stdout=NEXT))
    watch = _Watch(progress, on_tick, unzip=decompress is not None)
    with secret_pipe(client.option_file()) as fd:
        stages.append(
            Stage(
                mariadb_command(fd, client, client_tool),
                stdin=PREVIOUS if decompress is not None else dump,
                pass_fds=(fd,),
            )
        )
        pipeline = Pipeline(
            stages,
            f"restore of {dump}",
            timeout_s=RESTORE_TIMEOUT_S,
            on_tick=watch,
            tick_s=0.1,
            error=VerificationError,
        )
        watch.pipeline = pipeline
        with pipeline:
            pipeline.wait()
            unzip_err = pipeline.stderr(stages[0].name) if decompress is not None else ""
    progress.read = progress.total
    if decompress is None:
        progress.uncompressed = progress.total
    else:
        found = decompressed_bytes(unzip_err.encode())
        progress.uncompressed = found or progress.uncompressed
    log.info("restored %s: %s", dump.name, progress.line())
    return progress.uncompressed


def restore_mydumper(directory: Path, client: ClientEndpoint, threads: int = 2) -> int:
    """Load a mydumper folder with ``myloader``; return the bytes of its files."""
    total = sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())
    started = time.monotonic()
    last = [started]

    def progress() -> None:
        if time.monotonic() - last[0] >= PROGRESS_INTERVAL_S:
            last[0] = time.monotonic()
            log.info("myloader running for %.0fs (%s MB backup)", last[0] - started, total // 10**6)

    with _credentials_file(client, "myloader") as credentials:
        command = myloader_command(directory, client, credentials, threads)
        with Pipeline(
            [Stage(command)],
            f"restore of {directory}",
            timeout_s=RESTORE_TIMEOUT_S,
            on_tick=progress,
            error=VerificationError,
        ) as pipeline:
            pipeline.wait()
    log.info("myloader restored %s in %.1fs", directory, time.monotonic() - started)
    return total


_RESET_ROOT_SQL = """\
CREATE OR REPLACE USER 'root'@'localhost';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'localhost' WITH GRANT OPTION;
CREATE OR REPLACE USER 'root'@'127.0.0.1';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
"""


def copy_hashed(src: Path, dst: Path) -> dict[str, tuple[int, str]]:
    """Copy the folder ``src`` to ``dst`` (new) and take the sha256 of its files meanwhile.

    The copy runs in the kernel (``shutil.copytree``, ``copy_file_range``) while other threads
    hash the same files, so the checksums cost little more than the copy. (Hashing in the
    copy loop itself, through Python's buffers, measured slower than copying and hashing one
    after the other.) Symbolic links are copied as links, not followed.

    :return: ``{relative/posix/path: (bytes, sha256 hex)}`` of every regular file of ``src``.
    """
    files = [p for p in src.rglob("*") if p.is_file() and not p.is_symlink()]
    files.sort(key=lambda p: p.stat().st_size, reverse=True)  # the largest first: even shares
    with ThreadPoolExecutor(max_workers=HASH_WORKERS, thread_name_prefix="hash") as pool:
        hashed = [pool.submit(lambda p: (p.stat().st_size, sha256_file(p)), p) for p in files]
        shutil.copytree(src, dst, symlinks=True)
        return {
            p.relative_to(src).as_posix(): f.result() for p, f in zip(files, hashed, strict=True)
        }


class PreparedInstance(MySQLInstance):
    """A private server whose datadir is a prepared ``mariabackup`` copy, not the template.

    :param backup_dir: the ``mariabackup`` folder of a backup (left untouched: a copy is
        prepared).
    :param on_copied: when given, the copy is made with :func:`copy_hashed` and this is
        called with its result before ``--prepare`` reads the copy; it may raise (the copy is
        then removed) to stop a restore from files that fail their checksums.
    """

    def __init__(
        self,
        backup_dir: Path,
        *,
        base_dir: str | os.PathLike[str] | None = None,
        spec: InstanceSpec | None = None,
        on_copied: Callable[[dict[str, tuple[int, str]]], None] | None = None,
    ) -> None:
        super().__init__(spec or restore_spec(), base_dir=base_dir)
        self.backup_dir = backup_dir
        self.on_copied = on_copied

    def _init_sql(self) -> str:
        # The copied grant tables hold the source's root, maybe with a password. The init file
        # resets root on this throwaway copy (then gives it this instance's password);
        # --skip-grant-tables would also hide the events.
        return _RESET_ROOT_SQL + super()._init_sql()

    def _prepare_files(self) -> bool:
        if self.dir and (Path(self.datadir) / "mysql").is_dir():
            return False
        base = self._base_dir_arg
        if base is None:
            base = self._owned_base = Path(tempfile.mkdtemp(prefix=DEFAULT_BASE_PREFIX))
        base.mkdir(parents=True, exist_ok=True)
        self.dir = tempfile.mkdtemp(dir=base, prefix="server-")
        self.datadir = os.path.join(self.dir, "data")
        self._tmpdir.mkdir()
        self.socket = self._socket_path()
        self._write_marker(state="initializing")  # a kill while copying leaves a findable dir
        try:
            if self.on_copied is None:
                shutil.copytree(self.backup_dir, self.datadir, symlinks=True)
            else:
                self.on_copied(copy_hashed(self.backup_dir, Path(self.datadir)))
            processes.run(
                ["mariabackup", "--prepare", f"--target-dir={self.datadir}"],
                f"mariabackup --prepare of {self.backup_dir}",
                timeout_s=RESTORE_TIMEOUT_S,
                error=VerificationError,
            )
        except BaseException:
            self._remove_files()  # a copy nothing will start on
            raise
        return True
