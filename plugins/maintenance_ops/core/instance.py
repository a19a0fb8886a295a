"""Start and stop private MariaDB or MySQL servers with their own datadir, socket and port.

One component serves the demo's embedded server, ephemeral restore targets and the test
suite's replica, binlog-enabled and scratch servers. Every server:

* runs from a copy of a pristine datadir that is initialised once per machine and server
  version and cached (``mariadb-install-db`` takes seconds, a copy takes a fraction of one);
* listens on its own unix socket and on a free TCP port on 127.0.0.1 only;
* ignores every option file (``--no-defaults``), so a shared server's config is never read;
* gives ``root`` a random password of its own (:attr:`MySQLInstance.password`), set by an
  ``--init-file`` (0600, in the instance's 0700 folder, removed once the server is ready)
  before the server accepts its first connection: these servers hold copies of production
  data (and, restored from mariabackup, its password hashes);
* leaves a marker file (``mmc-instance.json``) in its folder, so :func:`cleanup_stale` can find
  and remove what killed runs left behind.

MySQLdb is imported inside the functions that talk to a server, so importing this module
stays cheap.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import functools
import json
import logging
import os
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from maintenance_ops.core import processes, sqlexec
from maintenance_ops.core.dialect import Flavor
from maintenance_ops.core.exceptions import ConnectionFailed, InstanceError

log = logging.getLogger(__name__)

MARKER_NAME = "mmc-instance.json"
DEFAULT_BASE_PREFIX = "mmc-instance-"
INSTANCE_PREFIX = "server-"
SOCKET_DIR_PREFIX = "mmc-sock-"
# Bump when the template's content changes (options, users) so old caches are not reused.
TEMPLATE_FORMAT = 1
SERVER_NAMES = ("mariadbd", "mysqld")
EXTRA_SEARCH_DIRS = ("/usr/sbin", "/usr/libexec", "/usr/local/mysql/bin")
INSTALL_HINT = "install mariadb-server: apt-get install mariadb-server"
INNODB_LOG_FILE_SIZE = "16M"

# sun_path holds 108 bytes on Linux and 104 on macOS; stay clear of both.
_MAX_SOCKET_PATH = 100
_BIND_ERRORS = ("Address already in use", "Bind on TCP/IP port")
_PORT_ATTEMPTS = 3
# The server copies the hostname into root@<hostname>, which --skip-name-resolve then warns
# about on every start; the template drops it (and its proxy grant) so error logs stay clean.
_MARIADB_TEMPLATE_SQL = """\
DELETE FROM mysql.global_priv WHERE User = 'root' AND Host NOT IN ('localhost', '127.0.0.1', '::1');
DELETE FROM mysql.proxies_priv WHERE Host NOT IN ('localhost', '127.0.0.1', '::1', '');
"""
# MySQL creates root@localhost only, which does not match TCP logins under --skip-name-resolve.
_MYSQL_TEMPLATE_SQL = """\
CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
"""


@dataclass
class InstanceSpec:
    """Describe how a private server is configured."""

    server_id: int = 1
    binlog: bool = False  # --log-bin, --binlog-format=ROW, --log-slave-updates
    gtid_strict: bool = False
    read_only: bool = False
    extra_args: tuple[str, ...] = ()  # additional server options, e.g. ("--max-connections=20",)
    innodb_buffer_pool_size: str = "64M"
    startup_timeout_s: float = 60.0


# --------------------------------------------------------------------------------------------
# Finding and initialising the server
# --------------------------------------------------------------------------------------------


def find_server_binary(
    search_dirs: Sequence[str] | None = None,
    *,
    flavor: Flavor | None = None,
    install_hint: str | None = None,
) -> tuple[str, Flavor]:
    """Return the path and flavor of the first ``mariadbd`` or ``mysqld`` found.

    ``search_dirs`` defaults to ``$PATH`` followed by the usual sbin/libexec folders.

    :param flavor: only a server of this flavor will do (a restore of a MySQL backup needs a
        MySQL server); the binary's own ``--version`` decides, since Debian links ``mysqld``
        to ``mariadbd``.
    :param install_hint: what to install when no server of ``flavor`` is found.
    """
    dirs = list(search_dirs) if search_dirs is not None else _default_search_dirs()
    search_path = os.pathsep.join(dirs)
    found_other: list[str] = []
    for name in SERVER_NAMES:
        found = shutil.which(name, path=search_path) if search_path else None
        if not found:
            continue
        found_flavor = _binary_flavor(found)
        if flavor is None or found_flavor == flavor:
            return found, found_flavor
        found_other.append(f"{found} ({_binary_version_line(found)})")
    if flavor is not None and found_other:
        raise InstanceError(
            f"no {flavor} server binary found: only {', '.join(found_other)}, another flavor, "
            f"which cannot load a {flavor} backup faithfully; {install_hint or INSTALL_HINT}"
        )
    raise InstanceError(
        f"no database server binary ({' or '.join(SERVER_NAMES)}) found in "
        f"{os.pathsep.join(dirs) or '(no folders)'}; {INSTALL_HINT}, "
        "or pass server_binary= to MySQLInstance"
    )


def _default_search_dirs() -> list[str]:
    dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d]
    return dirs + [d for d in EXTRA_SEARCH_DIRS if d not in dirs]


@functools.lru_cache(maxsize=8)
def _binary_version_line(binary: str) -> str:
    """Return the server's ``--version`` line, e.g. ``mariadbd  Ver 10.11.19-MariaDB ...``."""
    try:
        code, out, err = processes.output(
            [binary, "--no-defaults", "--version"],
            f"{binary} --version",
            timeout_s=30,
            ok=range(256),
            error=InstanceError,
        )
    except OSError as exc:
        raise InstanceError(f"cannot run server binary {binary}: {exc}; {INSTALL_HINT}") from exc
    line = (out or err).strip()
    if code != 0 or " Ver " not in line:
        raise InstanceError(
            f"server binary {binary} did not report a version (exit {code}: "
            f"{line[-300:]!r}); pass server_binary= pointing at mariadbd or mysqld"
        )
    return line


def _binary_flavor(binary: str) -> Flavor:
    # /usr/sbin/mysqld is a symlink to mariadbd on Debian, so ask the binary, not its name.
    return "mariadb" if "mariadb" in _binary_version_line(binary).lower() else "mysql"


def _binary_version(binary: str) -> str:
    return _binary_version_line(binary).split(" Ver ", 1)[1].split()[0]


def template_cache_dir() -> Path:
    """Return the folder holding cached template datadirs."""
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "mysql-maintenance-coordinator"


def ensure_template(
    binary: str, flavor: Flavor, cache_dir: str | os.PathLike[str] | None = None
) -> Path:
    """Return a pristine initialised datadir for ``binary``, creating it once per machine.

    Several processes (pytest-xdist workers) may race here: each builds in its own temporary
    folder and renames it into place; a rename onto an existing template fails and the loser
    discards its copy, so readers never see a half-built template.
    """
    cache = Path(cache_dir) if cache_dir is not None else template_cache_dir()
    name = f"template-{flavor}-{_binary_version(binary)}-v{TEMPLATE_FORMAT}"
    final = cache / name
    if final.is_dir():
        return final
    cache.mkdir(parents=True, exist_ok=True)
    _remove_abandoned_builds(cache)
    build = Path(tempfile.mkdtemp(dir=cache, prefix=f".{name}.building-"))
    try:
        started = time.monotonic()
        _initialize_datadir(binary, flavor, build / "data", build)
        try:
            os.rename(build / "data", final)
        except OSError:
            if not final.is_dir():
                raise
            log.debug("another process created template %s first", final)
        else:
            log.info("created template datadir %s in %.2fs", final, time.monotonic() - started)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    return final


def _remove_abandoned_builds(cache: Path, max_age_s: float = 3600.0) -> None:
    # A killed build leaves its temporary folder behind; an hour is far beyond any real build.
    for path in cache.glob(".template-*.building-*"):
        with contextlib.suppress(OSError):
            if time.time() - path.stat().st_mtime > max_age_s:
                shutil.rmtree(path, ignore_errors=True)


def _initialize_datadir(binary: str, flavor: Flavor, datadir: Path, workdir: Path) -> None:
    """Create a fresh datadir with a passwordless root for socket and TCP logins."""
    sql_file = workdir / "init.sql"
    log_file = workdir / "initialize.log"
    # Concurrent bootstraps sharing /tmp fail on each other's internal temporary tables
    # ("Error on delete of '/tmp/#sql-temptable-...MAI'"), so each gets its own tmpdir.
    tmpdir = workdir / "tmp"
    tmpdir.mkdir(exist_ok=True)
    if flavor == "mariadb":
        sql_file.write_text(_MARIADB_TEMPLATE_SQL)
        cmd = _mariadb_install_command(binary, datadir, sql_file, tmpdir)
    else:
        sql_file.write_text(_MYSQL_TEMPLATE_SQL)
        cmd = [
            binary,
            "--no-defaults",
            *_user_args(),
            "--initialize-insecure",
            f"--datadir={datadir}",
            f"--init-file={sql_file}",
            f"--log-error={log_file}",
            f"--tmpdir={tmpdir}",
        ]
    try:
        processes.run(
            cmd,
            f"initialising datadir {datadir}",
            timeout_s=600,
            stdout=Path(log_file),
            error=InstanceError,
        )
    except OSError as exc:
        raise InstanceError(f"cannot initialise datadir {datadir}: {exc}") from exc
    except InstanceError as exc:
        raise InstanceError(
            f"{exc}; fix the cause below and retry.\ncommand: {shlex.join(cmd)}\n"
            f"{log_file} says:\n{_log_excerpt(log_file)}"
        ) from None


def _mariadb_install_command(binary: str, datadir: Path, sql_file: Path, tmpdir: Path) -> list[str]:
    install_db = _find_install_db(binary)
    supported = _install_db_help(install_db)
    cmd = [install_db, "--no-defaults", f"--basedir={_basedir(binary)}", f"--datadir={datadir}"]
    cmd += _user_args()
    # Older install scripts lack some flags; pass only what this one understands.
    optional = {
        "--auth-root-authentication-method": "--auth-root-authentication-method=normal",
        "--skip-test-db": "--skip-test-db",
        "--skip-name-resolve": "--skip-name-resolve",
        "--extra-file": f"--extra-file={sql_file}",
    }
    cmd += [arg for flag, arg in optional.items() if flag in supported]
    # Unknown options go to the bootstrap server: size the redo log like the instances do,
    # so the first start of every copy does not have to resize it.
    cmd += [f"--innodb-log-file-size={INNODB_LOG_FILE_SIZE}", f"--tmpdir={tmpdir}"]
    return cmd


def _basedir(binary: str) -> Path:
    # mariadbd lives in <basedir>/sbin or <basedir>/bin; resolve symlinks such as mysqld.
    return Path(binary).resolve().parent.parent


def _find_install_db(binary: str) -> str:
    base = _basedir(binary)
    dirs = [str(Path(binary).parent), str(base / "bin"), str(base / "scripts")]
    search = os.pathsep.join(dirs + _default_search_dirs())
    for name in ("mariadb-install-db", "mysql_install_db"):
        found = shutil.which(name, path=search)
        if found:
            return found
    raise InstanceError(
        f"mariadb-install-db not found next to {binary} or in $PATH; {INSTALL_HINT}"
    )


@functools.lru_cache(maxsize=4)
def _install_db_help(install_db: str) -> str:
    _, out, err = processes.output(
        [install_db, "--help"], f"{install_db} --help", timeout_s=60, ok=range(256)
    )
    return out + err


def _user_args() -> list[str]:
    # mariadbd refuses to run as root unless told to; as anyone else --user is an error.
    return ["--user=root"] if os.geteuid() == 0 else []


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------------------------
# Processes (Linux /proc first, os.kill elsewhere)
# --------------------------------------------------------------------------------------------


def _proc_stat_fields(pid: int) -> list[str] | None:
    """Return /proc/<pid>/stat fields from the state on (field 3), or None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses; it ends at the last ")".
    return raw.rsplit(")", 1)[1].split()


def _pid_alive(pid: int | None) -> bool:
    """Return whether ``pid`` is a live process; zombies count as dead."""
    if not pid:
        return False
    if Path("/proc/self/stat").exists():
        fields = _proc_stat_fields(pid)
        return fields is not None and fields[0] not in ("Z", "X")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _start_ticks(pid: int) -> int | None:
    """Return the process start time (field 22 of /proc/<pid>/stat) to tell reused pids apart."""
    fields = _proc_stat_fields(pid)
    return int(fields[19]) if fields and len(fields) > 19 else None


def _process_is(pid: int | None, start_ticks: int | None) -> bool:
    """Return whether ``pid`` is alive and is the same process that was recorded."""
    if not _pid_alive(pid):
        return False
    assert pid is not None
    return start_ticks is None or _start_ticks(pid) in (None, start_ticks)


def _server_belongs(pid: int | None, datadir: str) -> bool:
    """Return whether ``pid`` is a live server running on ``datadir`` (guards reused pids)."""
    if not _pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return True  # No /proc: trust the pid, which we recorded ourselves.
    return f"--datadir={datadir}" in cmdline.split("\0")


def _wait_pid_gone(pid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while _pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _terminate_pid(pid: int, term_timeout_s: float = 30.0, kill_timeout_s: float = 10.0) -> None:
    """Stop a process that is not our child: SIGTERM (a clean shutdown), then SIGKILL."""
    for sig, timeout in ((signal.SIGTERM, term_timeout_s), (signal.SIGKILL, kill_timeout_s)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        if _wait_pid_gone(pid, timeout):
            return
    log.warning("process %s survived SIGKILL for %.0fs", pid, kill_timeout_s)


def _tail(path: Path, lines: int = 20, offset: int = 0) -> str:
    """Return the last ``lines`` lines of ``path`` from byte ``offset`` on."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError as exc:
        return f"(cannot read {path}: {exc.strerror})"
    text = data.decode(errors="replace").rstrip("\n")
    return "\n".join(text.splitlines()[-lines:]) if text else "(empty)"


def _log_excerpt(path: Path, offset: int = 0, lines: int = 20) -> str:
    """Return the log's ERROR lines that precede its last ``lines`` lines, then those lines.

    Failure output often ends in boilerplate (install-db prints 25 lines of advice), which
    would push the one line naming the cause out of a plain tail.
    """
    tail = _tail(path, lines=lines, offset=offset)
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            text = f.read().decode(errors="replace")
    except OSError:
        return tail
    tail_lines = set(tail.splitlines())
    errors = [ln for ln in text.splitlines() if "ERROR" in ln and ln not in tail_lines][-10:]
    return "\n".join([*errors, "...", tail]) if errors else tail


def _file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


# --------------------------------------------------------------------------------------------
# The instance
# --------------------------------------------------------------------------------------------

_LIVE: dict[int, MySQLInstance] = {}


def live_password(port: int, socket: str | None) -> str | None:
    """Return root's password of a private server this process runs at ``socket`` or ``port``."""
    with _LIVE_LOCK:
        for inst in _LIVE.values():
            if (socket and inst.socket == socket) or (not socket and inst.port == port):
                return inst.password
    return None


_LIVE_LOCK = threading.Lock()


class MySQLInstance:
    """Own one private server process, its datadir, socket and TCP port.

    Use as a context manager, or call :meth:`start` and :meth:`stop`. Instances still running
    when the process that started them exits normally are stopped by an ``atexit`` hook.
    """

    host = "127.0.0.1"
    user = "root"
    shutdown_timeout_s = 60.0
    term_timeout_s = 30.0

    def __init__(
        self,
        spec: InstanceSpec | None = None,
        *,
        base_dir: str | os.PathLike[str] | None = None,
        server_binary: str | None = None,
        flavor: Flavor | None = None,
        install_hint: str | None = None,
    ) -> None:
        """Choose the server binary; nothing starts until :meth:`start`.

        :param flavor: the server must be this flavor (``Dialect.version.flavor`` of the data
            it will hold); None takes the first server found.
        :param install_hint: what to install when no server of ``flavor`` is found.
        """
        self.spec = spec or InstanceSpec()
        self._base_dir_arg = Path(base_dir) if base_dir is not None else None
        if server_binary is not None:
            self.binary: str = server_binary
            self.flavor: Flavor = _binary_flavor(server_binary)
        else:
            self.binary, self.flavor = find_server_binary(flavor=flavor, install_hint=install_hint)
        self.dir = ""
        self.datadir = ""
        self.socket = ""
        self.port = 0
        self.command: list[str] = []
        self.timings: dict[str, float] = {}
        self._proc: subprocess.Popen[bytes] | None = None
        self._owned_base: Path | None = None
        self._socket_dir: Path | None = None
        self._version: str | None = None
        self._owner_pid = os.getpid()
        # Hex: safe in SQL, option files and URIs without quoting; never in a repr or a log.
        self.password = secrets.token_hex(16)

    def __repr__(self) -> str:
        state = f"pid={self.pid} port={self.port}" if self.pid else "stopped"
        return f"<MySQLInstance {self.flavor} {state} dir={self.dir or '-'}>"

    # ---- properties --------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """Return the server's process id while it runs, else None."""
        if self._proc is None or self._proc.poll() is not None:
            return None
        return self._proc.pid

    @property
    def running(self) -> bool:
        """Return whether the server process is alive."""
        return self.pid is not None

    @property
    def version(self) -> str:
        """Return ``SELECT VERSION()`` of the running server."""
        if self._version is None:
            self._version = str(self.execute("SELECT VERSION()")[0][0])
        return self._version

    @property
    def error_log(self) -> Path:
        return Path(self.dir) / "error.log"

    @property
    def _out_log(self) -> Path:
        return Path(self.dir) / "server.out"

    @property
    def _tmpdir(self) -> Path:
        return Path(self.dir) / "tmp"

    # ---- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> MySQLInstance:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> MySQLInstance:
        """Start the server and wait until it accepts connections on its socket; return self.

        A stopped instance whose files were kept starts again on the same datadir.
        """
        if self.running:
            return self
        started = time.monotonic()
        created = self._prepare_files()
        try:
            self._launch_until_ready()
        except BaseException:
            self._kill_after_failed_start()
            if created:
                self._remove_files()
            raise
        self._write_marker(state="running")
        with _LIVE_LOCK:
            _LIVE[id(self)] = self
        self.timings["start_total_s"] = time.monotonic() - started
        log.info(
            "started %s pid=%s port=%s dir=%s in %.2fs",
            self.flavor,
            self.pid,
            self.port,
            self.dir,
            self.timings["start_total_s"],
        )
        return self

    def stop(self, *, keep_files: bool = False) -> None:
        """Shut the server down with SHUTDOWN, falling back to SIGTERM then SIGKILL; idempotent.

        The instance folder is removed unless ``keep_files`` is true.
        """
        started = time.monotonic()
        with _LIVE_LOCK:
            _LIVE.pop(id(self), None)
        if self._proc is not None:
            self._shutdown_server(self._proc)
            self._proc = None
        self._version = None
        if keep_files:
            self._write_marker(state="kept")
        elif self.dir:
            self._remove_files()
        self.timings["stop_s"] = time.monotonic() - started

    def discard(self) -> None:
        """Kill the server and remove its folder: for throwaway copies whose data nobody keeps.

        A clean SHUTDOWN flushes the buffer pool to files that are deleted a moment later;
        SIGKILL skips that work (about a second for a restored gigabyte).
        """
        started = time.monotonic()
        with _LIVE_LOCK:
            _LIVE.pop(id(self), None)
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            self._write_marker(state="stopping")
            proc.kill()
            proc.wait(timeout=30)
        self._version = None
        if self.dir:
            self._remove_files()
        self.timings["stop_s"] = time.monotonic() - started

    def detach(self) -> MySQLInstance:
        """Leave the server running after this process exits; return self.

        Takes it out of the at-exit stop and marks its folder ``kept``, so that
        :func:`cleanup_stale` (in this process or a later one) leaves server and files alone.
        Stopping it and removing its folder is then the caller's job: :meth:`stop` while this
        process runs, else a SHUTDOWN as root (password in :attr:`password`) and removing
        :attr:`dir`. Used by a runbook's ``--keep``.
        """
        with _LIVE_LOCK:
            _LIVE.pop(id(self), None)
        self._write_marker(state="kept")
        return self

    # ---- connections -------------------------------------------------------------------

    def connect(self, database: str | None = None, *, tcp: bool = False, **kw: Any) -> Any:
        """Return a connection as root (with the instance's password), by :func:`sqlexec.connect`.

        Connects over the unix socket, or over TCP to 127.0.0.1 when ``tcp`` is true or
        ``host`` is given. Autocommit is off unless ``autocommit=True``. Other keywords
        (``user``, ``password``, timeouts, ``MySQLdb.connect`` options) go to it.

        :raises ConnectionFailed: the server refused or is not there (never the password).
        """
        params: dict[str, Any] = {"user": self.user, "password": self.password, "autocommit": False}
        if "passwd" in kw:  # MySQLdb's other name for it
            kw["password"] = kw.pop("passwd")
        if tcp or kw.pop("host", "localhost") != "localhost":
            params.update(host=self.host, port=self.port)
        else:
            params["socket"] = self.socket
        params.update(kw)
        return sqlexec.connect(database=database, **params)

    def execute(self, sql: str, args: Any = None) -> list[tuple[Any, ...]]:
        """Run one statement with autocommit on a fresh connection and return all rows."""
        conn = self.connect()
        try:
            conn.autocommit(True)
            return sqlexec.rows(conn, sql, args)
        finally:
            conn.close()

    def url(self) -> str:
        """Return ``mysql://root:PASSWORD@127.0.0.1:PORT`` (holds the password: tests, demo)."""
        return f"mysql://{self.user}:{self.password}@{self.host}:{self.port}"

    def airflow_conn_uri(self) -> str:
        """Return a URI usable as an ``AIRFLOW_CONN_<ID>`` environment variable (TCP)."""
        return self.url()

    # ---- start helpers -----------------------------------------------------------------

    def _prepare_files(self) -> bool:
        """Create the instance folder and datadir unless kept from a previous run.

        Return whether anything was created (and so must be removed if the start fails).
        """
        if self.dir and (Path(self.datadir) / "mysql").is_dir():
            return False
        base = self._base_dir_arg
        if base is None:
            base = self._owned_base = Path(tempfile.mkdtemp(prefix=DEFAULT_BASE_PREFIX))
        base.mkdir(parents=True, exist_ok=True)
        self.dir = tempfile.mkdtemp(dir=base, prefix=INSTANCE_PREFIX)
        self.datadir = os.path.join(self.dir, "data")
        self._tmpdir.mkdir()
        self.socket = self._socket_path()
        # Write the marker first: a run killed while copying still leaves a findable folder.
        self._write_marker(state="initializing")
        template = ensure_template(self.binary, self.flavor)
        copied = time.monotonic()
        shutil.copytree(template, self.datadir, symlinks=True)
        self.timings["copy_template_s"] = time.monotonic() - copied
        return True

    def _socket_path(self) -> str:
        path = os.path.join(self.dir, "mysqld.sock")
        if len(path) <= _MAX_SOCKET_PATH:
            return path
        # A deep base_dir (pytest's tmp_path) would overflow sun_path; use a short folder.
        self._socket_dir = Path(tempfile.mkdtemp(prefix=SOCKET_DIR_PREFIX, dir="/tmp"))
        return str(self._socket_dir / "mysqld.sock")

    def _launch_until_ready(self) -> None:
        """Start the server, retrying on a new port when another process took ours."""
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            self.port = self._next_port(attempt)
            log_offset = _file_size(self.error_log)
            launched = time.monotonic()
            self._launch()
            if self._wait_ready(launched + self.spec.startup_timeout_s):
                self.timings["start_to_ready_s"] = time.monotonic() - launched
                return
            assert self._proc is not None
            code = self._proc.wait()
            tail = _tail(self.error_log, offset=log_offset)
            if attempt < _PORT_ATTEMPTS and any(e in tail for e in _BIND_ERRORS):
                log.warning("port %s was taken before the server bound it; retrying", self.port)
                continue
            raise InstanceError(self._failure_message(f"exited with code {code}", log_offset))

    def _next_port(self, attempt: int) -> int:
        """Return the TCP port for start attempt ``attempt`` (1-based)."""
        return free_port()

    def _server_command(self) -> list[str]:
        spec = self.spec
        cmd = [
            self.binary,
            "--no-defaults",  # must come first; keeps /etc/mysql and ~/.my.cnf out
            *_user_args(),
            f"--datadir={self.datadir}",
            f"--socket={self.socket}",
            f"--port={self.port}",
            f"--bind-address={self.host}",
            f"--pid-file={os.path.join(self.dir, 'mysqld.pid')}",
            f"--log-error={self.error_log}",
            f"--init-file={self._init_file}",
            f"--tmpdir={self._tmpdir}",  # private: servers sharing /tmp trip over each other
            f"--innodb-buffer-pool-size={spec.innodb_buffer_pool_size}",
            f"--innodb-log-file-size={INNODB_LOG_FILE_SIZE}",
            "--skip-name-resolve",
            f"--server-id={spec.server_id}",
            # Restored events must not fire on a copy being verified (MySQL 8 defaults to ON).
            "--event-scheduler=OFF",
        ]
        cmd += self._flavor_args()
        if spec.read_only:
            cmd.append("--read-only")
        cmd += spec.extra_args
        return cmd

    def _flavor_args(self) -> list[str]:
        spec = self.spec
        binlog = f"--log-bin={os.path.join(self.dir, 'binlog')}"
        if self.flavor == "mariadb":
            args = [binlog, "--binlog-format=ROW", "--log-slave-updates"] if spec.binlog else []
            return args + (["--gtid-strict-mode=ON"] if spec.gtid_strict else [])
        # MySQL 8 logs binlogs in ROW format with replica updates by default, but turns the
        # binlog on by default too; X Protocol would take port 33060 in every instance.
        args = ["--mysqlx=OFF", binlog if spec.binlog else "--skip-log-bin"]
        if spec.gtid_strict:
            args += ["--gtid-mode=ON", "--enforce-gtid-consistency=ON"]
        return args

    @property
    def _init_file(self) -> Path:
        return Path(self.dir) / "init.sql"

    def _init_sql(self) -> str:
        """Return what the server runs before its first connection: root's password.

        Not binary-logged: a replica of this server keeps its own root password.
        """
        return "SET SESSION sql_log_bin = 0;\n" + "".join(
            f"ALTER USER IF EXISTS 'root'@'{host}' IDENTIFIED BY '{self.password}';\n"
            for host in ("localhost", "127.0.0.1", "::1")
        )

    def _launch(self) -> None:
        fd = os.open(self._init_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self._init_sql())
        self.command = self._server_command()
        log.debug("starting %s", shlex.join(self.command))
        self._proc = processes.spawn(self.command, log_path=Path(self._out_log))
        self._write_marker(state="starting")

    def _wait_ready(self, deadline: float) -> bool:
        """Poll the socket until a login works; return False if the server exited first."""
        assert self._proc is not None
        while self._proc.poll() is None:
            if os.path.exists(self.socket):
                try:
                    self.connect(connect_timeout=5).close()
                    self._init_file.unlink(missing_ok=True)  # the password is set
                    return True
                except ConnectionFailed:
                    pass  # Socket exists before the grant tables are loaded.
            if time.monotonic() > deadline:
                raise InstanceError(
                    self._failure_message(
                        f"did not accept connections within {self.spec.startup_timeout_s:.0f}s"
                        " (raise InstanceSpec.startup_timeout_s if the machine is slow)"
                    )
                )
            time.sleep(0.05)
        return False

    def _failure_message(self, reason: str, log_offset: int = 0) -> str:
        msg = (
            f"{self.flavor} server in {self.dir} {reason}; fix the option or cause named in "
            f"its error log below.\ncommand: {shlex.join(self.command)}\n"
            f"last lines of {self.error_log}:\n{_log_excerpt(self.error_log, log_offset)}"
        )
        out = _tail(self._out_log, lines=5)
        if out != "(empty)":
            msg += f"\nlast lines of {self._out_log}:\n{out}"
        return msg

    def _kill_after_failed_start(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    # ---- stop helpers ------------------------------------------------------------------

    def _shutdown_server(self, proc: subprocess.Popen[bytes]) -> None:
        """Ask for SHUTDOWN, then SIGTERM, then SIGKILL, each after a timeout."""
        if proc.poll() is not None:
            return  # Already gone (killed from outside); poll() reaped it.
        self._write_marker(state="stopping")
        steps: list[tuple[str, float]] = [
            ("SHUTDOWN", self.shutdown_timeout_s),
            ("SIGTERM", self.term_timeout_s),
            ("SIGKILL", 30.0),
        ]
        for step, timeout in steps:
            if not self._send_stop(proc, step):
                continue
            try:
                proc.wait(timeout=timeout)
                log.debug("server pid=%s stopped by %s", proc.pid, step)
                return
            except subprocess.TimeoutExpired:
                log.warning("server pid=%s ignored %s for %.0fs", proc.pid, step, timeout)

    def _send_stop(self, proc: subprocess.Popen[bytes], step: str) -> bool:
        """Send one stop request; return False when it could not be delivered."""
        if step == "SIGTERM":
            proc.terminate()
        elif step == "SIGKILL":
            proc.kill()
        else:
            return self._request_shutdown()
        return True

    def _request_shutdown(self) -> bool:
        import MySQLdb

        try:
            conn = self.connect(connect_timeout=5)
        except ConnectionFailed as exc:
            log.warning("cannot connect to send SHUTDOWN (%s); signalling instead", exc)
            return False
        try:
            conn.cursor().execute("SHUTDOWN")
        except MySQLdb.Error:
            pass  # The server may drop the connection while acting on it.
        finally:
            with contextlib.suppress(MySQLdb.Error):
                conn.close()
        return True

    def _remove_files(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None
        if self._owned_base is not None:
            with contextlib.suppress(OSError):
                self._owned_base.rmdir()  # Only if empty: someone may have put files there.
            self._owned_base = None
        self.dir = self.datadir = self.socket = ""

    def _write_marker(self, *, state: str) -> None:
        """Record what cleanup_stale needs to recognise this folder after a crash."""
        if not self.dir:
            return
        proc = self._proc
        server_pid = proc.pid if proc is not None and proc.poll() is None else None
        info = {
            "tool": "mysql-maintenance-coordinator",
            "state": state,
            "pid": server_pid,
            "port": self.port,
            "socket": self.socket,
            "socket_dir": str(self._socket_dir) if self._socket_dir else None,
            "datadir": self.datadir,
            "owner_pid": self._owner_pid,
            "owner_start": _start_ticks(self._owner_pid),
            "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        path = Path(self.dir) / MARKER_NAME
        tmp = path.with_suffix(".tmp")
        # Replace atomically: cleanup_stale in another process must never read half a file.
        with contextlib.suppress(FileNotFoundError):
            tmp.write_text(json.dumps(info, indent=1))
            os.replace(tmp, path)


@atexit.register
def _stop_all_at_exit() -> None:
    """Stop instances this process started; forked children leave their parent's alone."""
    with _LIVE_LOCK:
        instances = [i for i in _LIVE.values() if i._owner_pid == os.getpid()]
    for instance in instances:
        try:
            instance.stop()
        except Exception:
            log.exception("could not stop %r at exit", instance)


# --------------------------------------------------------------------------------------------
# Cleaning up after killed runs
# --------------------------------------------------------------------------------------------


def cleanup_stale(base: str | os.PathLike[str] | None = None) -> list[str]:
    """Remove instance folders left by killed runs and stop their orphaned servers.

    ``base`` defaults to the temp folder. A folder is stale when the process that started it
    is gone, or when it was running and its server is gone; folders stopped with
    ``keep_files=True`` are left alone. Return the removed folders.
    """
    root = Path(base) if base is not None else Path(tempfile.gettempdir())
    removed: list[str] = []
    for marker in _find_markers(root):
        info = _read_marker(marker)
        if info is None or not _is_stale(info):
            continue
        inst_dir = marker.parent
        pid = info.get("pid")
        if isinstance(pid, int) and _server_belongs(pid, str(info.get("datadir", ""))):
            log.warning("stopping orphaned server pid=%s of %s", pid, inst_dir)
            _terminate_pid(pid)
        _remove_stale_dir(inst_dir, info)
        removed.append(str(inst_dir))
    return removed


def _find_markers(root: Path) -> Iterator[Path]:
    patterns = (MARKER_NAME, f"*/{MARKER_NAME}", f"{DEFAULT_BASE_PREFIX}*/*/{MARKER_NAME}")
    seen: set[Path] = set()
    for pattern in patterns:
        for marker in sorted(root.glob(pattern)):
            if marker not in seen:
                seen.add(marker)
                yield marker


def _read_marker(marker: Path) -> dict[str, Any] | None:
    try:
        info = json.loads(marker.read_text())
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable instance marker %s: %s", marker, exc)
        return None
    return info if isinstance(info, dict) else None


def _is_stale(info: dict[str, Any]) -> bool:
    if info.get("state") == "kept":
        return False  # Someone asked for these files; deleting them is their call.
    if not _process_is(info.get("owner_pid"), info.get("owner_start")):
        return True
    # The owner lives: only a server that died while marked running is abandoned; any other
    # state means the owner is starting or stopping it right now.
    return info.get("state") == "running" and not _server_belongs(
        info.get("pid"), str(info.get("datadir", ""))
    )


def _remove_stale_dir(inst_dir: Path, info: dict[str, Any]) -> None:
    shutil.rmtree(inst_dir, ignore_errors=True)
    socket_dir = info.get("socket_dir")
    if socket_dir and Path(socket_dir).name.startswith(SOCKET_DIR_PREFIX):
        shutil.rmtree(socket_dir, ignore_errors=True)
    if inst_dir.parent.name.startswith(DEFAULT_BASE_PREFIX):
        with contextlib.suppress(OSError):
            inst_dir.parent.rmdir()
