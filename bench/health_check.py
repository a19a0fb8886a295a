"""Benchmark: the hourly health check's task time and memory, beside a bare ``SELECT 1`` task.

Run it from the repository root (``make setup`` first: it needs the migrated SQLite database, and
the shared MariaDB at 127.0.0.1:3306, user root, no password)::

    .venv/bin/python bench/health_check.py            # print the results as Markdown
    .venv/bin/python bench/health_check.py --write    # also update docs/benchmarks.md

Everything runs in a throw-away ``AIRFLOW_HOME`` (copies of ``.airflow/airflow.db``), with a
generated configuration (``maintenance: {retries: 0}``, ``notifications: {enable_deadlines:
false}``) and one Airflow connection (``AIRFLOW_CONN_*``) per database.

1. **One database**: ``mysql_health_check`` on one database (its own schema ``mmcbench_hc_00``),
   ``--repeats`` runs (default 5), each ``dag.test()`` in its own fresh subprocess.
2. **20 databases**: one run of ``mysql_health_check`` over 20 databases (20 schemas on the same
   server, each its own connection and ``databases:`` entry with ``schemas: [that schema]`` and
   its own history schema), in one subprocess.
3. **Baseline**: a temp DAG folder with one ``@task`` doing ``SELECT 1`` through ``MySqlHook``:
   ``bench_select_one`` measured like 1, and ``bench_select_one_mapped`` (the same task mapped
   over the 20 connections) like 2.

What is measured is the task itself: each task instance's ``duration`` (its start and end as
recorded by the in-process Execution API), not the subprocess's wall time, so the ~10-20 s the
first ``dag.test()`` in a process spends starting the in-process API server and syncing the DAG
folder are excluded. Memory: a thread samples the process RSS every 5 ms; for each task we report
the peak RSS inside its start-end window and the growth over the RSS at its start, plus the
process's ``ru_maxrss``. Inside the health task, the main phases are timed by wrapping the
library functions (connect, preflight, collect, host metrics, history, metrics export).

History tables are created before the timed runs (an hourly check finds them in place), and the
schemas are dropped afterwards.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchlib import DOC, ROOT, machine, write_section

DAGS = ROOT / "dags"
PLUGINS = ROOT / "plugins"
SOURCE_DB = ROOT / ".airflow" / "airflow.db"
SECTION = "## Health check (issue 3)"
SERVER = {"host": "127.0.0.1", "port": 3306, "user": "root", "passwd": ""}
SERVER_URI = "mysql://root@127.0.0.1:3306"
PREFIX = "mmcbench_hc_"
HEALTH_DAG = "mysql_health_check"
HEALTH_TASK = "maintain.health_check"  # the health step of the task group maintain
SELECT_DAG = "bench_select_one"
SELECT_MAPPED_DAG = "bench_select_one_mapped"
SELECT_TASK = "select_one"
SAMPLE_EVERY_S = 0.005
PLUGINS_IN_USE = PLUGINS

BASELINE_DAG = '''"""Baseline for bench/health_check.py: one task, SELECT 1 through MySqlHook."""

import os

from airflow.sdk import dag, task


@task
def select_one(conn_id: str) -> int:
    from airflow.providers.mysql.hooks.mysql import MySqlHook

    return MySqlHook(mysql_conn_id=conn_id).get_first("SELECT 1")[0]


@dag(dag_id="bench_select_one", schedule=None, catchup=False)
def bench_select_one():
    select_one(os.environ["BENCH_SELECT_CONN"])


@dag(dag_id="bench_select_one_mapped", schedule=None, catchup=False)
def bench_select_one_mapped():
    select_one.expand(conn_id=os.environ["BENCH_SELECT_CONNS"].split(","))


bench_select_one()
bench_select_one_mapped()
'''


# ---- the child: one dag.test() in a fresh process -------------------------------------------


class RssSampler(threading.Thread):
    """Sample this process's RSS (bytes) every few milliseconds, with wall-clock times."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, int]] = []
        self.page = os.sysconf("SC_PAGE_SIZE")
        self.stop = threading.Event()

    def rss(self) -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * self.page

    def run(self) -> None:
        while not self.stop.is_set():
            self.samples.append((time.time(), self.rss()))
            time.sleep(SAMPLE_EVERY_S)

    def window(self, start: float, end: float) -> tuple[int, int]:
        """Return (RSS at start, peak RSS within [start, end])."""
        before = [r for t, r in self.samples if t <= start]
        inside = [r for t, r in self.samples if start <= t <= end]
        at_start = before[-1] if before else (inside[0] if inside else 0)
        return at_start, max(inside + [at_start])


PHASES: list[tuple[str, float, float]] = []  # (label, wall start, seconds)


def _timed(owner: Any, name: str, label: str) -> None:
    fn = getattr(owner, name)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        wall, started = time.time(), time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            PHASES.append((label, wall, time.perf_counter() - started))

    setattr(owner, name, wrapper)


def instrument_health() -> None:
    """Time the health task's phases by wrapping the library functions it calls."""
    from maintenance_ops.core import audit, preflight, session
    from maintenance_ops.observe import health, health_history, metrics
    from maintenance_ops.operators.health import HealthCheckOperator

    _timed(session, "connect", "connect (MySqlHook, 2 per task)")
    _timed(audit, "connect", "connect (MySqlHook, 2 per task)")
    _timed(preflight, "run_preflight", "preflight")
    _timed(health, "collect", "collect (incl. host metrics)")
    _timed(health, "_host_metrics", "host metrics (psutil)")
    _timed(health_history.HealthHistory, "__init__", "history: CREATE TABLE IF NOT EXISTS")
    _timed(health_history.HealthHistory, "store", "history: store")
    _timed(health_history.HealthHistory, "trends", "history: trends")
    _timed(health_history.HealthHistory, "enforce_retention", "history: retention")
    _timed(metrics, "emit", "metrics: emit")
    _timed(HealthCheckOperator, "execute", "operator execute() total")


WARM_UP = {  # the untimed first run of each child: (DAG id, run conf)
    HEALTH_DAG: (HEALTH_DAG, {"databases": [f"{PREFIX}00"]}),
    SELECT_DAG: (SELECT_DAG, {}),
    SELECT_MAPPED_DAG: (SELECT_DAG, {}),
}


def _task_rows(dag_run: Any, sampler: RssSampler) -> list[dict[str, Any]]:
    tis = []
    for ti in dag_run.get_task_instances():
        start, end = ti.start_date.timestamp(), ti.end_date.timestamp()
        rss_start, rss_peak = sampler.window(start, end)
        phases: dict[str, float] = {}
        for label, when, secs in PHASES:
            if start <= when <= end:
                phases[label] = phases.get(label, 0.0) + secs
        tis.append(
            {
                "task_id": ti.task_id,
                "map_index": ti.map_index,
                "state": str(ti.state),
                "start": start,
                "end": end,
                "duration": ti.duration if ti.duration is not None else end - start,
                "rss_start": rss_start,
                "rss_peak": rss_peak,
                "phases": phases,
            }
        )
    return tis


def child(dag_id: str, repeats: int, out: Path) -> None:
    """Warm up, then run one DAG ``repeats`` times with dag.test(); write the results as JSON.

    The warm-up run (untimed, but reported as "cold") pays the process's one-off costs: the
    in-process Execution API start-up lands in its first task, and its tasks pay the imports.
    """
    sampler = RssSampler()
    sampler.start()
    from airflow.dag_processing.dagbag import DagBag

    if dag_id == HEALTH_DAG:
        instrument_health()
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    if bag.import_errors:
        raise SystemExit(f"import errors: {bag.import_errors}")
    warm_id, warm_conf = WARM_UP[dag_id]
    warm = bag.dags[warm_id].test(run_conf=warm_conf)
    runs = [{"state": str(warm.state), "tis": _task_rows(warm, sampler), "warm_up": True}]
    # A fresh parse: dag.test(run_conf=...) leaves the conf on the DAG's params for later runs.
    bag = DagBag(dag_folder=os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    for _ in range(repeats):
        dag_run = bag.dags[dag_id].test(run_conf={"databases": []} if dag_id == HEALTH_DAG else {})
        runs.append({"state": str(dag_run.state), "tis": _task_rows(dag_run, sampler)})
    sampler.stop.set()
    sampler.join()
    result = {
        "dag_id": dag_id,
        "runs": runs,
        "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    out.write_text(json.dumps(result))


# ---- the parent: set up, run children, report -----------------------------------------------


def mysql(sql: str, database: str = "") -> None:
    """Run one statement on the shared server."""
    import MySQLdb

    conn = MySQLdb.connect(**SERVER, db=database, connect_timeout=5)
    try:
        conn.cursor().execute(sql)
        conn.commit()
    finally:
        conn.close()


def schema(i: int) -> str:
    return f"{PREFIX}{i:02d}"


def create_schemas(n: int) -> None:
    """Create ``n`` small schemas and their history schemas (history tables in place)."""
    sys.path.insert(0, str(PLUGINS))
    from maintenance_ops.core.sqlfiles import load_sql, split_statements

    for i in range(n):
        name = schema(i)
        mysql(f"CREATE DATABASE IF NOT EXISTS `{name}`")
        mysql(
            "CREATE TABLE IF NOT EXISTS orders (id INT PRIMARY KEY, placed DATETIME, "
            "total DECIMAL(10, 2), KEY (placed))",
            name,
        )
        mysql(
            "INSERT IGNORE INTO orders SELECT seq, NOW() - INTERVAL seq HOUR, seq / 10 "
            "FROM seq_1_to_1000",
            name,
        )
        mysql(f"CREATE DATABASE IF NOT EXISTS `{name}_hist`")
        for sql_name in ("create_health_history", "create_maintenance_log"):
            for statement in split_statements(load_sql(sql_name, history_schema=f"{name}_hist")):
                mysql(statement)


def drop_schemas(n: int) -> None:
    for i in range(n):
        mysql(f"DROP DATABASE IF EXISTS `{schema(i)}`")
        mysql(f"DROP DATABASE IF EXISTS `{schema(i)}_hist`")


def write_config(path: Path, n: int) -> None:
    """Write a configuration with ``n`` databases, one connection and schema each."""
    import yaml

    config = {
        "databases": [
            {
                "name": schema(i),
                "conn_id": schema(i),
                "schemas": [schema(i)],
                "history_schema": f"{schema(i)}_hist",
            }
            for i in range(n)
        ],
        "maintenance": {"retries": 0},
        "notifications": {"enable_deadlines": False},
    }
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def plugins_folder(tmp: Path) -> tuple[Path, str]:
    """Return the plugins folder to use, and a note when it had to be a filtered copy.

    Airflow's plugins manager executes every ``.py`` file under the plugins folder as a top-level
    module, ``__main__.py`` included: a ``__main__.py`` that calls ``sys.exit(main())`` at import
    ends the process (SystemExit is not caught). When one is there and no ``.airflowignore``
    exists, use a copy of the folder without it (the library itself is installed editable).
    """
    mains = sorted(PLUGINS.rglob("__main__.py"))
    if not mains or (PLUGINS / ".airflowignore").exists():
        return PLUGINS, ""
    copy = tmp / "plugins"
    shutil.copytree(PLUGINS, copy, ignore=shutil.ignore_patterns("__main__.py", "__pycache__"))
    names = ", ".join(str(m.relative_to(ROOT)) for m in mains)
    _progress(f"warning: Airflow's plugins manager would execute {names}; using a copy without")
    return copy, (
        f"`AIRFLOW__CORE__PLUGINS_FOLDER` pointed at a copy of `plugins/` without {names}: "
        "Airflow's plugins manager imports every `.py` file of the plugins folder, and that "
        "file's unguarded `sys.exit(main())` ended the process."
    )


def airflow_env(home: Path, dags: Path, config: Path, n: int) -> dict[str, str]:
    """Return the child's environment: a private Airflow home and one connection per database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__"))}
    env.pop("MAINTENANCE_CONFIG", None)
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_IN_USE),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
            "MAINTENANCE_CONFIG": str(config),
            "BENCH_SELECT_CONN": schema(0),
            "BENCH_SELECT_CONNS": ",".join(schema(i) for i in range(n)),
        }
    )
    for i in range(n):
        env[f"AIRFLOW_CONN_{schema(i).upper()}"] = SERVER_URI
    return env


def run_child(
    dag_id: str, repeats: int, env: dict[str, str], tmp: Path, label: str
) -> dict[str, Any]:
    """Run one configuration in its own subprocess; return its results."""
    out = tmp / f"{label}.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", dag_id, str(repeats), str(out)]
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode or not out.exists():
        sys.stderr.write(done.stdout[-5000:] + done.stderr[-5000:])
        raise SystemExit(f"{label}: child failed with exit code {done.returncode}")
    result = json.loads(out.read_text())
    result["process_wall_s"] = time.perf_counter() - started
    failed = [r["state"] for r in result["runs"] if r["state"] != "success"]
    if failed:
        sys.stderr.write(done.stdout[-5000:] + done.stderr[-5000:])
        raise SystemExit(f"{label}: DAG run(s) ended {failed}")
    return result


def home_copy(tmp: Path, name: str) -> Path:
    home = tmp / name
    home.mkdir()
    shutil.copy(SOURCE_DB, home / "airflow.db")
    return home


def _progress(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def tasks(dag_run: dict[str, Any], task_id: str) -> list[dict[str, Any]]:
    return sorted(
        (t for t in dag_run["tis"] if t["task_id"] == task_id), key=lambda t: t["map_index"]
    )


def timed_tasks(result: dict[str, Any], task_id: str) -> list[dict[str, Any]]:
    """Every instance of ``task_id`` in the timed (not warm-up) runs of a configuration."""
    runs = [r for r in result["runs"] if not r.get("warm_up")]
    return [t for r in runs for t in tasks(r, task_id)]


def run(repeats: int, n: int) -> dict[str, Any]:
    """Set up, measure every configuration in its own subprocess, clean up; return results."""
    if not SOURCE_DB.exists():
        raise SystemExit(f"{SOURCE_DB} does not exist: run `make setup` first")
    tmp = Path(tempfile.mkdtemp(prefix="mmc-bench-health-"))
    try:
        baseline_dags = tmp / "baseline_dags"
        baseline_dags.mkdir()
        (baseline_dags / "bench_select_one.py").write_text(BASELINE_DAG)
        global PLUGINS_IN_USE  # noqa: PLW0603 - set once per run, read by airflow_env
        PLUGINS_IN_USE, note = plugins_folder(tmp)
        _progress(f"creating {n} schemas {schema(0)}..{schema(n - 1)} (+ _hist) ...")
        drop_schemas(n)
        create_schemas(n)
        one, many = tmp / "maintenance_1.yaml", tmp / f"maintenance_{n}.yaml"
        write_config(one, 1)
        write_config(many, n)
        health_home, select_home = home_copy(tmp, "home_health"), home_copy(tmp, "home_select")
        results: dict[str, Any] = {"n": n, "note": note, "load_before": os.getloadavg()}
        plan = [
            ("health_1", HEALTH_DAG, repeats, health_home, DAGS, one),
            ("select_1", SELECT_DAG, repeats, select_home, baseline_dags, one),
            ("health_n", HEALTH_DAG, 1, health_home, DAGS, many),
            ("select_n", SELECT_MAPPED_DAG, 1, select_home, baseline_dags, many),
        ]
        for key, dag_id, times, home, dags, config in plan:
            _progress(f"{key}: {dag_id}, warm-up + {times} run(s) in one subprocess ...")
            env = airflow_env(home, dags, config, n)
            results[key] = run_child(dag_id, times, env, tmp, key)
            task_id = HEALTH_TASK if dag_id == HEALTH_DAG else SELECT_TASK
            durations = [t["duration"] for t in timed_tasks(results[key], task_id)]
            _progress(
                f"  {task_id}: {', '.join(f'{d:.3f}' for d in durations)} s "
                f"(subprocess {results[key]['process_wall_s']:.0f} s)"
            )
        results["load_after"] = os.getloadavg()
        return results
    finally:
        drop_schemas(n)
        shutil.rmtree(tmp, ignore_errors=True)


# ---- rendering --------------------------------------------------------------------------------


def server_version() -> str:
    import MySQLdb

    conn = MySQLdb.connect(**SERVER, connect_timeout=5)
    try:
        cur = conn.cursor()
        cur.execute("SELECT VERSION(), @@performance_schema")
        version, pfs = cur.fetchone()
        return f"{version} (performance_schema {'ON' if pfs else 'OFF'})"
    finally:
        conn.close()


def ms(values: list[float]) -> str:
    """Return ``median (min–max)`` in milliseconds."""
    if len(values) == 1:
        return f"{values[0] * 1000:.0f} ms"
    return (
        f"{statistics.median(values) * 1000:.0f} ms "
        f"({min(values) * 1000:.0f}–{max(values) * 1000:.0f})"
    )


def mib(value: float) -> str:
    return f"{value / 1024**2:.0f} MiB"


def mib_delta(value: float) -> str:
    return f"+{value / 1024**2:.1f} MiB"


def _row(label: str, runs: str, tis: list[dict[str, Any]], procs: list[dict[str, Any]]) -> str:
    durations = [t["duration"] for t in tis]
    peak = statistics.median(t["rss_peak"] for t in tis)
    growth = statistics.median(t["rss_peak"] - t["rss_start"] for t in tis)
    maxrss = statistics.median(p["ru_maxrss"] for p in procs)
    return (
        f"| {label} | {runs} | {ms(durations)} | {mib(peak)} | {mib_delta(growth)} | "
        f"{mib(maxrss)} |"
    )


def _span(dag_run: dict[str, Any], task_id: str) -> tuple[float, float, float]:
    """Return (sum of the task's durations, span of the mapped task, span of the whole run)."""
    mapped = tasks(dag_run, task_id)
    total = sum(t["duration"] for t in mapped)
    span = max(t["end"] for t in mapped) - min(t["start"] for t in mapped)
    run_span = max(t["end"] for t in dag_run["tis"]) - min(t["start"] for t in dag_run["tis"])
    return total, span, run_span


def _median(tis: list[dict[str, Any]], label: str | None = None) -> float:
    if label is None:
        return statistics.median(t["duration"] for t in tis)
    return statistics.median(t["phases"].get(label, 0.0) for t in tis)


def render(r: dict[str, Any], command: str) -> str:
    """Return the Markdown section for docs/benchmarks.md."""
    m, n = machine(), r["n"]
    h1, s1 = timed_tasks(r["health_1"], HEALTH_TASK), timed_tasks(r["select_1"], SELECT_TASK)
    hn, sn = timed_tasks(r["health_n"], HEALTH_TASK), timed_tasks(r["select_n"], SELECT_TASK)
    warm = r["health_1"]["runs"][0]
    cold = tasks(warm, HEALTH_TASK)
    startup = tasks(warm, "select_databases")[0]["duration"]
    repeats = len(h1)
    hn_run = next(x for x in r["health_n"]["runs"] if not x.get("warm_up"))
    sn_run = next(x for x in r["select_n"]["runs"] if not x.get("warm_up"))
    h_total, _, h_run = _span(hn_run, HEALTH_TASK)
    s_total, _, s_run = _span(sn_run, SELECT_TASK)
    ratio = _median(h1) / _median(s1)
    labels = list(dict.fromkeys(label for t in h1 + cold for label in t["phases"]))
    phase_rows = [
        f"| {label} | {ms([t['phases'].get(label, 0.0) for t in h1])} | "
        f"{ms([t['phases'].get(label, 0.0) for t in cold])} | "
        f"{ms([t['phases'].get(label, 0.0) for t in hn])} |"
        for label in labels
    ]
    load = ", ".join(f"{x:.1f}" for x in r["load_before"])
    load_after = ", ".join(f"{x:.1f}" for x in r["load_after"])
    lines = [
        SECTION,
        "",
        f"What: the `{HEALTH_TASK}` task of `{HEALTH_DAG}` (`HealthCheckOperator`: preflight, "
        "collect, evaluate, score, history, metrics, alert plan) for one database, "
        f"{repeats} runs; one run over {n} databases ({n} schemas on the same server, each its "
        "own `AIRFLOW_CONN_*` connection, `databases:` entry with `schemas: [that schema]` and "
        "history schema); beside them a bare `SELECT 1` task (one `@task` calling "
        "`MySqlHook.get_first`, in a temp DAG folder) measured the same way: alone "
        f"({repeats} runs) and mapped over the same {n} connections (1 run). Each configuration "
        "runs in its own subprocess (`dag.test()`, in-process), after one untimed warm-up run. "
        f"Server: the shared {r['server']} on 127.0.0.1, so host metrics are collected (local).",
        "",
        "Times are each task instance's `duration` (its start and end as the in-process "
        "Execution API records them). The first `dag.test()` in a process spends 10–40 s "
        "starting the in-process API server and syncing the DAG folder, and that lands inside "
        f"its first task (here `select_databases` of the warm-up took {startup:.1f} s): the "
        "untimed warm-up run takes it, and the imports of MySQLdb, the MySQL provider and psutil. "
        "The warm-up's health task is shown as *cold*: a real executor runs every task in a "
        "fresh process, so a deployed task pays about the cold time, plus process start-up. "
        "Memory: the process RSS sampled every 5 ms, its peak inside the task's start–end "
        "window and its growth over the RSS at task start; and the subprocess's `ru_maxrss` "
        "(Airflow, the in-process API server and the parsed DAGs included). Medians, (min–max) "
        "where there are several.",
        "",
        f"- Machine: {m['nproc']} CPUs (`nproc`), {m['memory']} memory, {m['cpu']}; load "
        f"average {load} before, {load_after} after (other work was running)",
        f"- Command: `{command}`",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Python {platform.python_version()}, Airflow {r['airflow']}",
        "",
        "| Task | Runs | Task time | Peak RSS in task | RSS growth in task | Process max RSS |",
        "|---|--:|--:|--:|--:|--:|",
        _row("health check, 1 database", str(repeats), h1, [r["health_1"]]),
        _row("health check, 1 database, cold (first in process)", "1", cold, [r["health_1"]]),
        _row("bare `SELECT 1`", str(repeats), s1, [r["select_1"]]),
        _row(f"health check, {n} databases (per task)", f"1 × {n}", hn, [r["health_n"]]),
        _row(f"bare `SELECT 1` mapped × {n} (per task)", f"1 × {n}", sn, [r["select_n"]]),
        "",
        f"One run over {n} databases: the {n} health tasks took **{h_total:.1f} s** in all, the "
        f"whole DAG run (select, {n} tasks, report) {h_run:.1f} s; the {n} mapped `SELECT 1` "
        f"tasks {s_total:.1f} s in all (whole run {s_run:.1f} s). `dag.test()` runs mapped tasks "
        "one after another; a deployment runs `maintenance.max_concurrent` (pool slots, default "
        "2) at a time, each in its own process.",
        "",
        f"A health task for one database takes **{ratio:.1f}×** the time of a bare `SELECT 1` "
        f"task ({_median(h1) * 1000:.0f} ms against {_median(s1) * 1000:.0f} ms). Its phases "
        "(median, by wrapping the library functions):",
        "",
        f"| Phase | 1 database ({repeats} runs) | cold | {n} databases (per task) |",
        "|---|--:|--:|--:|",
        *phase_rows,
        "",
        f"What dominates: {dominates(h1, cold)}",
    ]
    if r.get("note"):
        lines += ["", f"Note: {r['note']}"]
    return "\n".join(lines) + "\n"


def dominates(h1: list[dict[str, Any]], cold: list[dict[str, Any]]) -> str:
    """One sentence on where the health task's time goes."""
    execute = _median(h1, "operator execute() total")
    task = _median(h1)
    labels = {p for t in h1 for p in t["phases"]} - {
        "operator execute() total",
        "collect (incl. host metrics)",
    }
    ranked = sorted(((lb, _median(h1, lb)) for lb in labels), key=lambda kv: -kv[1])[:3]
    parts = ", ".join(f"{lb} {secs * 1000:.0f} ms" for lb, secs in ranked)
    connect = "connect (MySqlHook, 2 per task)"
    return (
        f"of the {task * 1000:.0f} ms task, `execute()` is {execute * 1000:.0f} ms and the "
        "rest is the task runner (context, XCom push, state calls to the API); inside, the "
        f"largest phases are {parts}. `host metrics` is mostly `psutil.cpu_percent(interval="
        "0.2)`, a fixed 200 ms sleep; the SQL itself (collect minus host metrics, preflight, "
        "history) is a few tens of ms. Cold, the two connects take "
        f"{_median(cold, connect) * 1000:.0f} ms, most of it importing MySQLdb and the MySQL "
        "provider on first use."
    )


def main() -> None:
    """Parse arguments, run, print and optionally write the section."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--databases", type=int, default=20)
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--child", nargs=3, metavar=("DAG_ID", "N", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]), Path(args.child[2]))
        return
    from importlib.metadata import version

    command = ".venv/bin/python bench/health_check.py" + (" --write" if args.write else "")
    if args.repeats != 5 or args.databases != 20:
        command += f" --repeats {args.repeats} --databases {args.databases}"
    results = run(args.repeats, args.databases)
    results["server"] = server_version()
    results["airflow"] = version("apache-airflow")
    text = render(results, command)
    print(text)
    if args.write:
        write_section(SECTION, text)
        _progress(f"updated {DOC.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
