"""Run real Airflow 3.3 components natively for end-to-end tests.

There is no Docker engine on the machines this project runs on, so the e2e tests start
``airflow api-server``, ``scheduler``, ``dag-processor`` and ``triggerer`` as plain
subprocesses. Every stack gets its own ``AIRFLOW_HOME``, metadata database, ports, secrets
and logs, so several stacks can run side by side under pytest-xdist.

With ``executor="CeleryExecutor"`` a ``celery worker`` joins them, with the machine's Redis as
the broker (every key under a per-stack prefix) and the stack's Postgres database as the result
backend; the worker serves only ``worker_queues``.

Example::

    with AirflowStack(dags_folder=dags, plugins_folder=None, work_dir=tmp) as stack:
        stack.wait_for_dag("my_dag")
        stack.unpause("my_dag")
        run = stack.wait_for_run("my_dag", stack.trigger("my_dag"))
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
import requests

POSTGRES_HOST = "127.0.0.1"
POSTGRES_PORT = 5432
POSTGRES_USER = "postgres"

DEFAULT_COMPONENTS: tuple[str, ...] = ("api-server", "scheduler", "dag-processor", "triggerer")
CELERY_WORKER = "celery-worker"
KNOWN_COMPONENTS = frozenset({*DEFAULT_COMPONENTS, CELERY_WORKER})

REDIS_HOST = "127.0.0.1"
REDIS_PORT = 6379

# Env var that marks every process of one stack. Task runners put themselves in their own
# process group (the task-sdk supervisor calls setpgid), so killpg on the scheduler misses
# them; the marker lets stop() find every descendant, even one re-parented to init.
STACK_MARKER_VAR = "MMC_AIRFLOW_STACK_ID"

# Health-endpoint keys of the components that report a heartbeat.
_HEALTH_KEYS = {
    "scheduler": "scheduler",
    "dag-processor": "dag_processor",
    "triggerer": "triggerer",
}

_TERMINAL_RUN_STATES = frozenset({"success", "failed"})

# Session-level advisory lock key that serialises building the migrated template database.
_TEMPLATE_LOCK_KEY = 0x4D4D43_0001


SHARED_SETTINGS = Path(__file__).resolve().parents[2] / "include" / "airflow.env"
# Settings the harness changes on purpose (speed, private ports); everything else in
# include/airflow.env reaches the components unchanged.
TEST_OVERRIDES = frozenset(
    {"AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL", "AIRFLOW__CORE__PARALLELISM"}
)


def shared_airflow_settings(path: Path = SHARED_SETTINGS) -> dict[str, str]:
    """Read ``include/airflow.env`` (KEY=value lines, # comments)."""
    out = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out[key.strip()] = value.strip()
    return out


class AirflowStackError(RuntimeError):
    """Signal that the stack failed to start, stopped responding, or an API call failed."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    # Binding port 0 lets the kernel choose; the tiny race until the component binds it is
    # acceptable for tests and far better than fixed ports under xdist.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def airflow_command() -> list[str]:
    """Return the argv prefix that runs the ``airflow`` CLI of the current interpreter."""
    # Use the console script next to the running interpreter so the stack always runs the
    # venv's Airflow, never one found on PATH.
    script = Path(sys.executable).parent / "airflow"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "airflow"]


def _hermetic_base_env() -> dict[str, str]:
    """Return os.environ without any inherited Airflow settings."""
    # AIRFLOW_HOME, AIRFLOW_CONFIG, AIRFLOW__*, AIRFLOW_CONN_*, AIRFLOW_VAR_* from the outer
    # shell would silently change what the stack does; tests pass what they need in extra_env.
    return {
        k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW") and k != STACK_MARKER_VAR
    }


def _schema_fingerprint() -> str:
    """Return a short hash of the installed Airflow distributions.

    The migrated schema depends only on them, so it names the cached template database.
    """
    names = sorted(
        f"{dist.metadata['Name']}=={dist.version}"
        for dist in importlib_metadata.distributions()
        if (dist.metadata["Name"] or "").lower().startswith("apache-airflow")
    )
    return hashlib.sha256("\n".join(names).encode()).hexdigest()[:12]


def _tail(path: Path, lines: int) -> str:
    """Return the last ``lines`` lines of a text file, or a note when it does not exist."""
    if not path.exists():
        return f"<no log at {path}>"
    with path.open("rb") as fh:
        # Read at most the last 256 KiB: component logs grow large in long tests.
        fh.seek(0, os.SEEK_END)
        fh.seek(max(0, fh.tell() - 256 * 1024))
        data = fh.read().decode("utf-8", errors="replace")
    return "\n".join(data.splitlines()[-lines:])


def _pg_url(dbname: str) -> str:
    return f"postgresql+psycopg2://{POSTGRES_USER}@{POSTGRES_HOST}:{POSTGRES_PORT}/{dbname}"


def require_postgres_drivers() -> None:
    """Fail fast, with the fix, when the drivers Airflow needs for PostgreSQL are missing."""
    # Airflow 3 opens a sync engine (psycopg2) *and* an async one derived from the same URL
    # (postgresql+asyncpg); without asyncpg the components die at start-up.
    missing = [m for m in ("psycopg2", "asyncpg") if importlib.util.find_spec(m) is None]
    if missing:
        raise AirflowStackError(
            f"metadata='postgres' needs {missing} in the venv: add 'psycopg2-binary' and "
            "'asyncpg' to the dev dependencies (or use metadata='sqlite')"
        )


def _pg_connect(dbname: str = "postgres") -> Any:
    """Open an autocommit psycopg2 connection to the local server."""
    # Imported lazily: only stacks with metadata="postgres" need the driver.
    require_postgres_drivers()
    import psycopg2

    conn = psycopg2.connect(
        host=POSTGRES_HOST,
        port=POSTGRES_PORT,
        user=POSTGRES_USER,
        dbname=dbname,
        connect_timeout=3,
    )
    # CREATE/DROP/ALTER DATABASE cannot run inside a transaction block.
    conn.autocommit = True
    return conn


def _pg_execute_when_idle(cur: Any, sql: str, timeout: float = 15) -> None:
    """Execute a database-level statement, retrying while the source DB still has sessions."""
    import psycopg2.errors

    # A migrate subprocess that just exited may leave its backend alive for a few ms, and
    # CREATE ... TEMPLATE / RENAME refuse to run while anyone is connected.
    deadline = time.monotonic() + timeout
    while True:
        try:
            cur.execute(sql)
            return
        except psycopg2.errors.ObjectInUse:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def ensure_postgres_running(timeout: float = 60) -> None:
    """Start the local PostgreSQL cluster if nothing answers on 127.0.0.1:5432."""
    require_postgres_drivers()
    import psycopg2

    try:
        _pg_connect().close()
        return
    except psycopg2.OperationalError:
        pass  # Not reachable: try to start it; the loop below reports the real error.
    etc = Path("/etc/postgresql")
    versions = sorted(p.name for p in etc.iterdir()) if etc.is_dir() else []
    if not versions:
        raise AirflowStackError("PostgreSQL is not reachable and no cluster is installed")
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "start"],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        try:
            _pg_connect().close()
            return
        except psycopg2.OperationalError as exc:
            last = exc
            time.sleep(0.5)
    raise AirflowStackError(f"PostgreSQL did not come up on {POSTGRES_HOST}:5432: {last}")


def _redis_ping() -> bool:
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=2) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def ensure_redis_running(timeout: float = 30) -> None:
    """Start the machine's Redis (the Celery broker) if nothing answers on 127.0.0.1:6379."""
    if _redis_ping():
        return
    server = shutil.which("redis-server")
    if server is None:
        raise AirflowStackError("Redis is not reachable and redis-server is not installed")
    # Started the way the Debian service would be, on loopback only; never reconfigured.
    subprocess.run(
        [server, "--bind", REDIS_HOST, "--port", str(REDIS_PORT), "--daemonize", "yes"],
        check=False,
        capture_output=True,
        timeout=timeout,
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _redis_ping():
            return
        time.sleep(0.3)
    raise AirflowStackError(f"Redis did not come up on {REDIS_HOST}:{REDIS_PORT}")


class AirflowStack:
    """Run Airflow components as private subprocesses and drive them through the REST API."""

    def __init__(
        self,
        *,
        dags_folder: str,
        plugins_folder: str | None,
        work_dir: str,
        extra_env: dict[str, str] | None = None,
        executor: str = "LocalExecutor",
        components: tuple[str, ...] | None = None,
        worker_queues: tuple[str, ...] = ("maintenance",),
        metadata: str = "postgres",
        parallelism: int = 4,
        use_db_template: bool = True,
        serve_logs: bool = False,
    ) -> None:
        """Prepare (but do not start) a private stack.

        ``use_db_template`` clones the metadata DB from a once-migrated template (keyed by
        the installed Airflow versions) instead of running ``airflow db migrate`` per stack.
        ``serve_logs`` starts the scheduler's and triggerer's log servers; they are only
        needed to read logs of *running* tasks, finished ones are read from local files.
        ``executor``: the deployment's (``include/airflow.env``) is the CeleryExecutor; tests
        that only need a task to run choose the lighter LocalExecutor, which needs no worker.
        ``components`` defaults to the four core components, plus a Celery worker serving
        ``worker_queues`` under the CeleryExecutor.
        """
        if components is None:
            celery = executor == "CeleryExecutor"
            components = (*DEFAULT_COMPONENTS, CELERY_WORKER) if celery else DEFAULT_COMPONENTS
        unknown = set(components) - KNOWN_COMPONENTS
        if unknown:
            raise ValueError(f"unknown components {sorted(unknown)}; known: {DEFAULT_COMPONENTS}")
        if metadata not in ("postgres", "sqlite"):
            raise ValueError("metadata must be 'postgres' or 'sqlite'")
        if metadata == "postgres":
            require_postgres_drivers()
        if CELERY_WORKER in components and (executor != "CeleryExecutor" or metadata != "postgres"):
            raise ValueError(
                "a celery-worker needs executor='CeleryExecutor' and metadata='postgres'"
            )
        if CELERY_WORKER in components and not worker_queues:
            raise ValueError("worker_queues is empty: name the Celery queue(s) the worker serves")

        self.stack_id = uuid.uuid4().hex[:12]
        self.work_dir = Path(work_dir).resolve()
        self.home = self.work_dir / "home"
        self.log_dir = self.work_dir / "logs"
        self.components = tuple(components)
        self.worker_queues = tuple(worker_queues)
        self.executor = executor
        # Every broker key of this stack lives under this prefix, so stacks sharing the
        # machine's Redis never see each other's queues, and stop() can delete them all.
        self.redis_prefix = f"mmc-e2e-{self.stack_id}:"
        self.metadata = metadata
        self.use_db_template = use_db_template
        self.serve_logs = serve_logs
        self.port = free_port()
        self.api_url = f"http://127.0.0.1:{self.port}"
        self.admin_user = "admin"
        self.admin_password = secrets.token_urlsafe(16)
        self.passwords_file = self.home / "simple_auth_manager_passwords.json"

        self.db_name = f"airflow_e2e_{self.stack_id}"
        self.sqlite_path = self.work_dir / "airflow.db"
        sql_conn = (
            _pg_url(self.db_name) if metadata == "postgres" else f"sqlite:///{self.sqlite_path}"
        )

        plugins = Path(plugins_folder).resolve() if plugins_folder else self.home / "plugins"
        self.env: dict[str, str] = _hermetic_base_env()
        # The deployment's shared settings first (docker-compose.yaml reads the same file);
        # what follows only wires this private stack together and makes it fast to test.
        self.env.update(shared_airflow_settings())
        self.env.update(
            {
                STACK_MARKER_VAR: self.stack_id,
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__DAGS_FOLDER": str(Path(dags_folder).resolve()),
                "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
                "AIRFLOW__CORE__EXECUTOR": executor,
                "AIRFLOW__CORE__PARALLELISM": str(parallelism),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql_conn,
                # Every component must sign/verify the same JWTs and decrypt the same secrets;
                # otherwise each process would write its own random values to airflow.cfg.
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
                "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(os.urandom(32)).decode(),
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.port),
                "AIRFLOW__API__BASE_URL": self.api_url,
                # Task runners talk to Airflow only through this URL (default: localhost:8080).
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                # Both log servers default to fixed ports (8793/8794) that clash under xdist.
                "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                # The default refresh is 300 s: new DAG files would not be seen within a test.
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "5",
                "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
                "AIRFLOW__SCHEDULER__JOB_HEARTBEAT_SEC": "1",
                "AIRFLOW__TRIGGERER__JOB_HEARTBEAT_SEC": "1",
                # A password file written by us gives the admin a known password up front.
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{self.admin_user}:admin",
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(self.passwords_file),
            }
        )
        if executor == "CeleryExecutor":
            self.env.update(self._celery_env(parallelism))
        self.env.update(extra_env or {})

        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._known: dict[int, float] = {}  # pid -> create_time, so pid reuse is not mistaken
        self._db_created = False
        self._token: str | None = None
        self._session = requests.Session()
        self._started = False
        self._stopped = False
        self.startup_seconds: float | None = None

    def _celery_env(self, parallelism: int) -> dict[str, str]:
        """Return the settings that wire this stack's scheduler and worker through Celery."""
        return {
            "AIRFLOW__CELERY__BROKER_URL": f"redis://{REDIS_HOST}:{REDIS_PORT}/0",
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": self.redis_prefix,
            "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{_pg_url(self.db_name)}",
            "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(parallelism),
            # One scheduler-side process polls task states; the default forks cpu_count - 1.
            "AIRFLOW__CELERY__SYNC_PARALLELISM": "1",
        }

    # ------------------------------------------------------------------ lifecycle

    def start(self, timeout: float = 180) -> AirflowStack:
        """Migrate the metadata DB, start every component and wait until they are healthy."""
        if self._started:
            return self
        self._started = True
        begin = time.monotonic()
        # Safety net for an interrupted pytest run: never leave a stack running.
        atexit.register(self.stop)
        try:
            self._prepare_dirs()
            if self.executor == "CeleryExecutor":
                ensure_redis_running()
            self._create_metadata_db(timeout)
            for component in self.components:
                self._spawn(component)
            self._wait_healthy(begin + timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - begin
        return self

    def stop(self) -> None:
        """Terminate every process of the stack and drop its private database; idempotent."""
        if self._stopped:
            return
        self._stopped = True
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        self._session.close()
        self._remember(self._stack_processes())

        # All components at once: each needs ~4 s to shut down gracefully, and stopping them
        # in sequence doubled stop() time. Tasks still running at this point are killed anyway.
        self._terminate(list(self._procs), timeout=20)

        # Task runners live in their own process groups: sweep by marker and by known pid.
        self._kill_leftovers(timeout=10)
        self._drop_metadata_db()
        if self.executor == "CeleryExecutor":
            self._drop_broker_keys()

    def __enter__(self) -> AirflowStack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _prepare_dirs(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        Path(self.env["AIRFLOW__CORE__PLUGINS_FOLDER"]).mkdir(parents=True, exist_ok=True)
        # SimpleAuthManager only adds users missing from the file, so ours keeps its password.
        self.passwords_file.write_text(json.dumps({self.admin_user: self.admin_password}) + "\n")

    def _drop_broker_keys(self) -> None:
        import redis

        client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=0, socket_timeout=5)
        try:
            keys = list(client.scan_iter(match=f"{self.redis_prefix}*", count=500))
            if keys:
                client.delete(*keys)
        finally:
            client.close()

    def _spawn(self, component: str) -> None:
        args = [*airflow_command(), component]
        if component == CELERY_WORKER:
            args = [
                *airflow_command(),
                "celery",
                "worker",
                "--queues",
                ",".join(self.worker_queues),
                "--concurrency",
                self.env["AIRFLOW__CELERY__WORKER_CONCURRENCY"],
                # Unique per stack: workers of parallel stacks must not answer each other.
                "--celery-hostname",
                f"{self.stack_id}@%h",
                # No other workers to synchronise with: skip the ~1 s mingle round.
                "--without-mingle",
                "--without-gossip",
            ]
            if not self.serve_logs:
                args.append("--skip-serve-logs")
        elif component == "api-server":
            args += ["--host", "127.0.0.1", "--port", str(self.port)]
        elif component in ("scheduler", "triggerer") and not self.serve_logs:
            args.append("--skip-serve-logs")
        log = (self.log_dir / f"{component}.log").open("ab")
        try:
            # start_new_session: the component and its forked workers form one process group
            # that can be signalled as a whole, apart from pytest's own group.
            proc = subprocess.Popen(
                args,
                env=self.env,
                cwd=str(self.work_dir),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        self._procs[component] = proc

    def _wait_healthy(self, deadline: float) -> None:
        wanted = ["metadatabase", *(_HEALTH_KEYS[c] for c in self.components if c in _HEALTH_KEYS)]
        last: Any = None
        while time.monotonic() < deadline:
            self._check_alive()
            if "api-server" not in self.components:
                return  # Nothing can report health; the caller runs background parts only.
            try:
                resp = self._session.get(f"{self.api_url}/api/v2/monitor/health", timeout=5)
                last = resp.json() if resp.ok else resp.text
                if (
                    resp.ok
                    and all((last.get(k) or {}).get("status") == "healthy" for k in wanted)
                    and self._worker_ready()
                ):
                    return
            except (requests.RequestException, ValueError) as exc:
                last = repr(exc)
            time.sleep(0.5)
        raise AirflowStackError(f"stack not healthy in time; last health: {last}\n{self._logs()}")

    def _worker_ready(self) -> bool:
        """Return whether the Celery worker (if any) logged that it consumes its queues."""
        if CELERY_WORKER not in self.components:
            return True
        # The health endpoint knows nothing of Celery workers; Celery logs "<name> ready."
        # once it has connected to the broker and declared its queues.
        tail = self.log_tail(CELERY_WORKER, 200)
        return any(f"{self.stack_id}@" in line and " ready." in line for line in tail.splitlines())

    def _check_alive(self) -> None:
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                raise AirflowStackError(
                    f"{name} exited with {proc.returncode}:\n{self.log_tail(name, 80)}"
                )

    # ------------------------------------------------------------------ metadata DB

    def _migrate(self, sql_conn: str, timeout: float) -> None:
        """Run ``airflow db migrate`` against ``sql_conn`` with the stack's environment."""
        env = {**self.env, "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": sql_conn}
        result = subprocess.run(
            [*airflow_command(), "db", "migrate"],
            env=env,
            cwd=str(self.work_dir),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if result.returncode != 0:
            raise AirflowStackError(
                f"airflow db migrate failed ({result.returncode}):\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )

    def _create_metadata_db(self, timeout: float) -> None:
        if self.metadata == "sqlite":
            if self.use_db_template:
                self._sqlite_from_template(timeout)
            else:
                self._migrate(self.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"], timeout)
            return
        ensure_postgres_running()
        conn = _pg_connect()
        try:
            with conn.cursor() as cur:
                if not self.use_db_template:
                    # Names are generated here (letters, digits, "_"), so quoting is safe.
                    cur.execute(f'CREATE DATABASE "{self.db_name}"')
                    self._db_created = True
                    self._migrate(_pg_url(self.db_name), timeout)
                    return
                # One builder at a time across xdist workers; the others wait, then clone.
                cur.execute("SELECT pg_advisory_lock(%s)", (_TEMPLATE_LOCK_KEY,))
                try:
                    template = self._pg_template(cur, timeout)
                    _pg_execute_when_idle(
                        cur, f'CREATE DATABASE "{self.db_name}" TEMPLATE "{template}"'
                    )
                    self._db_created = True
                finally:
                    cur.execute("SELECT pg_advisory_unlock(%s)", (_TEMPLATE_LOCK_KEY,))
        finally:
            conn.close()

    def _pg_template(self, cur: Any, timeout: float) -> str:
        """Return the name of the migrated template DB, building it on first use."""
        template = f"airflow_e2e_template_{_schema_fingerprint()}"
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (template,))
        if cur.fetchone() is not None:
            return template
        # Build under a temporary name and rename only after success, so a half-migrated
        # database can never be mistaken for the template.
        build = f"{template}_build_{self.stack_id}"
        cur.execute(f'CREATE DATABASE "{build}"')
        try:
            self._migrate(_pg_url(build), timeout)
            _pg_execute_when_idle(cur, f'ALTER DATABASE "{build}" RENAME TO "{template}"')
        except BaseException:
            cur.execute(f'DROP DATABASE IF EXISTS "{build}" WITH (FORCE)')
            raise
        return template

    def _sqlite_from_template(self, timeout: float) -> None:
        cache = Path(tempfile.gettempdir()) / "airflow-e2e-templates"
        cache.mkdir(exist_ok=True)
        template = cache / f"airflow-{_schema_fingerprint()}.db"
        with (cache / f"{template.name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not template.exists():
                build = cache / f"{template.name}.{self.stack_id}.build"
                try:
                    self._migrate(f"sqlite:///{build}", timeout)
                    os.replace(build, template)
                finally:
                    build.unlink(missing_ok=True)
        shutil.copyfile(template, self.sqlite_path)

    def _drop_metadata_db(self) -> None:
        if self.metadata != "postgres" or not self._db_created:
            return
        if importlib.util.find_spec("psycopg2") is None:
            # The venv changed under us (e.g. a concurrent `uv sync`): still do not leak it.
            subprocess.run(
                [
                    "psql",
                    "-h",
                    POSTGRES_HOST,
                    "-U",
                    POSTGRES_USER,
                    "-d",
                    "postgres",
                    "-c",
                    f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)',
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
            self._db_created = False
            return
        conn = _pg_connect()
        try:
            with conn.cursor() as cur:
                # WITH (FORCE) (PostgreSQL >= 13) ends sessions a killed component left behind.
                cur.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
            self._db_created = False
        finally:
            conn.close()

    # ------------------------------------------------------------------ processes

    def _terminate(self, names: list[str], timeout: float) -> None:
        """SIGTERM the leaders of ``names``, then SIGKILL their groups after ``timeout``."""
        procs = [self._procs[n] for n in names]
        for proc in procs:
            # Only the leader: each component stops its own children in order. SIGTERM to the
            # whole group made the triggerer wait its full 10 s escalation delay for a trigger
            # runner that had already exited on its own.
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                _killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)
            # Forked workers may outlive their leader: kill the rest of the group too.
            _killpg(proc.pid, signal.SIGKILL)

    def _stack_processes(self) -> list[psutil.Process]:
        """Return live processes that carry this stack's marker or descend from a component."""
        found: dict[int, psutil.Process] = {}
        for popen in self._procs.values():
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(popen.pid)
                found[root.pid] = root
                for child in root.children(recursive=True):
                    found[child.pid] = child
        for proc in psutil.process_iter():
            if proc.pid in found:
                continue
            with contextlib.suppress(psutil.Error):
                if proc.environ().get(STACK_MARKER_VAR) == self.stack_id:
                    found[proc.pid] = proc
        return [p for p in found.values() if _is_running(p)]

    def _remember(self, procs: list[psutil.Process]) -> None:
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                self._known.setdefault(proc.pid, proc.create_time())

    def _known_alive(self) -> Iterator[psutil.Process]:
        for pid, created in self._known.items():
            with contextlib.suppress(psutil.Error):
                proc = psutil.Process(pid)
                if proc.create_time() == created and _is_running(proc):
                    yield proc

    def _kill_leftovers(self, timeout: float) -> None:
        leftovers = {p.pid: p for p in self._known_alive()}
        leftovers.update({p.pid: p for p in self._stack_processes()})
        for proc in leftovers.values():
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(list(leftovers.values()), timeout=timeout)

    def pids(self) -> dict[int, float]:
        """Return pid -> create_time of every stack process seen so far, including now."""
        self._remember(self._stack_processes())
        return dict(self._known)

    def alive_pids(self) -> list[int]:
        """Return the pids of stack processes that are still running (zombies excluded)."""
        alive = {p.pid for p in self._known_alive()}
        alive |= {p.pid for p in self._stack_processes()}
        return sorted(alive)

    def memory(self) -> dict[str, int]:
        """Return the summed PSS and RSS, in bytes, of all live stack processes."""
        pss = rss = 0
        for proc in self._stack_processes():
            with contextlib.suppress(psutil.Error):
                info = proc.memory_full_info()
                pss += getattr(info, "pss", info.rss)
                rss += info.rss
        return {"pss": pss, "rss": rss}

    # ------------------------------------------------------------------ CLI and logs

    def cli(self, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """Run ``airflow <args>`` with the stack's environment and capture its output."""
        return subprocess.run(
            [*airflow_command(), *args],
            env=self.env,
            cwd=str(self.work_dir),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def log_tail(self, component: str, lines: int = 50) -> str:
        """Return the last ``lines`` lines of a component's log."""
        return _tail(self.log_dir / f"{component}.log", lines)

    def _logs(self, lines: int = 40) -> str:
        return "\n".join(
            f"----- {name} log -----\n{self.log_tail(name, lines)}" for name in self._procs
        )

    # ------------------------------------------------------------------ REST

    def token(self) -> str:
        """Return a JWT for the admin user, fetched once from POST /auth/token."""
        if self._token is None:
            resp = self._session.post(
                f"{self.api_url}/auth/token",
                json={"username": self.admin_user, "password": self.admin_password},
                timeout=30,
            )
            if not resp.ok:
                raise AirflowStackError(f"POST /auth/token -> {resp.status_code}: {resp.text}")
            self._token = str(resp.json()["access_token"])
        return self._token

    def api(self, method: str, path: str, json: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call the REST API as admin and return the decoded JSON body ({} when empty)."""
        url = f"{self.api_url}/{path.lstrip('/')}"
        for attempt in (1, 2):
            resp = self._session.request(
                method,
                url,
                json=json,
                timeout=60,
                headers={"Authorization": f"Bearer {self.token()}"},
            )
            # A token can expire in a long test; fetch a fresh one once.
            if resp.status_code == 401 and attempt == 1:
                self._token = None
                continue
            break
        if not resp.ok:
            raise AirflowStackError(f"{method} {path} -> {resp.status_code}: {resp.text}")
        if not resp.content:
            return {}
        body = resp.json()
        return body if isinstance(body, dict) else {"items": body}

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> dict[str, Any]:
        """Wait until the dag-processor has parsed ``dag_id`` and return its REST record."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                return self.api("GET", f"/api/v2/dags/{_q(dag_id)}")
            except AirflowStackError as exc:
                last = str(exc)
            time.sleep(1)
        try:
            errors: Any = self.api("GET", "/api/v2/importErrors")
        except AirflowStackError as exc:
            errors = {"error": str(exc)}
        raise AirflowStackError(
            f"DAG {dag_id!r} not available after {timeout}s ({last}); import errors: "
            f"{_dumps(errors)}\n----- dag-processor log -----\n{self.log_tail('dag-processor')}"
        )

    def pause(self, dag_id: str) -> dict[str, Any]:
        """Pause ``dag_id``."""
        return self.api("PATCH", f"/api/v2/dags/{_q(dag_id)}", {"is_paused": True})

    def unpause(self, dag_id: str) -> dict[str, Any]:
        """Unpause ``dag_id`` so the scheduler runs its DAG runs."""
        return self.api("PATCH", f"/api/v2/dags/{_q(dag_id)}", {"is_paused": False})

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        """Trigger a manual run of ``dag_id`` and return its dag_run_id."""
        # logical_date is required by the schema but may be null (omitting it gives 422).
        body = {"logical_date": None, "conf": conf or {}}
        return str(self.api("POST", f"/api/v2/dags/{_q(dag_id)}/dagRuns", body)["dag_run_id"])

    def get_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """Return the REST record of one DAG run."""
        return self.api("GET", f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}")

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 300) -> dict[str, Any]:
        """Wait until the run is success or failed and return its REST record."""
        deadline = time.monotonic() + timeout
        run: dict[str, Any] = {}
        while time.monotonic() < deadline:
            self._check_alive()
            run = self.get_run(dag_id, run_id)
            if run.get("state") in _TERMINAL_RUN_STATES:
                return run
            time.sleep(1)
        try:
            tis = self.task_instances(dag_id, run_id)
            states: Any = {t["task_id"]: t.get("state") for t in tis}
        except AirflowStackError as exc:
            states = str(exc)
        raise AirflowStackError(
            f"run {dag_id}/{run_id} still {run.get('state')!r} after {timeout}s; "
            f"task states: {states}\n----- scheduler log -----\n{self.log_tail('scheduler')}"
        )

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """Return the task instances of one DAG run."""
        body = self.api("GET", f"/api/v2/dags/{_q(dag_id)}/dagRuns/{_q(run_id)}/taskInstances")
        return list(body.get("task_instances", []))


def _q(part: str) -> str:
    """Quote one URL path segment (run ids contain ':' and '+')."""
    return quote(part, safe="")


def _killpg(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _is_running(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _dumps(value: Any) -> str:
    return json.dumps(value, indent=1, default=str)[:4000]
