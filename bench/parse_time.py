"""Benchmark: how long Airflow takes to parse our DAG files, beside one empty DAG file.

Run it from the repository root (``make setup`` first: it needs the migrated SQLite database)::

    .venv/bin/python bench/parse_time.py            # print the results as Markdown
    .venv/bin/python bench/parse_time.py --write    # also update docs/benchmarks.md
    .venv/bin/python bench/parse_time.py --before REV   # and compare with the files at REV

Everything runs in one go, in a throw-away ``AIRFLOW_HOME`` (a copy of ``.airflow/airflow.db``;
no database server), with a generated configuration of 3 databases and 2 custom schedules and
every connection pointing at 127.0.0.1:1, so a DAG file that connects while parsed fails or is
caught (the children count ``socket.connect`` calls). Each measurement is repeated
(``--repeats``, default 5) and reported as median (min–max), after a warm-up that is not kept.

1. **As the dag-processor parses.** Airflow 3's dag-processor manager loads ``plugins/`` at start
   (every Airflow job does), pre-imports the ``airflow.*`` modules a file imports, then forks one
   child per file; the child checks the file's stability, builds a DagBag of it and serializes
   its DAGs. A worker process (this file with ``--worker``) does the same and times the child's
   work, wall and CPU. Modules a DAG file imports that the manager has not are imported again
   in every child. ``plugins/maintenance_ops_preload.py`` imports our DAG-building modules when
   the plugins load, so the children inherit them; the same measurement is repeated with that
   file left out of ``plugins/``, where every child imports ``maintenance_ops`` again.
2. **``airflow dags report -o json``**, the documented tool, on the whole folder: one process
   parses every file, so what the files share is paid once, by the first file parsed.
3. **The baseline**: a temp folder with one trivial DAG (``@dag`` + one ``EmptyOperator``),
   measured by 1 and 2 alike, in the same run.
4. **Import cost** of ``maintenance_ops.dag_parts``, which every DAG file imports: in a fresh
   interpreter against ``import airflow.sdk``, in a forked dag-processor child, and broken down
   by ``python -X importtime``.
5. **Before and after** (``--before REV``): the DAG files and library at a git revision
   (``git archive`` into the temp folder, imported ahead of the installed package), measured as
   in 1 right after it, each file against its own measurement's empty DAG.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

from benchlib import DOC, ROOT, write_section
from benchlib import machine as base_machine

DAGS = ROOT / "dags"
PLUGINS = ROOT / "plugins"
PRELOAD = PLUGINS / "maintenance_ops_preload.py"
SOURCE_DB = ROOT / ".airflow" / "airflow.db"
SECTION = "## DAG parse time"

EMPTY_DAG = '''"""A trivial DAG: the parse-time baseline."""

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import dag


@dag(schedule=None)
def empty_baseline() -> None:
    EmptyOperator(task_id="noop")


empty_baseline()
'''

# Every connection the configuration names; all point at a closed port.
CONNECTIONS: dict[str, dict[str, Any]] = {
    **{
        conn_id: {"conn_type": "mysql", "host": "127.0.0.1", "port": 1, "login": "maint"}
        for conn_id in (
            "mysql_bench_orders",
            "mysql_bench_orders_replica",
            "mysql_bench_billing",
            "mysql_bench_analytics",
            "mysql_bench_history",
            "mysql_bench_scratch",
        )
    },
    "slack_bench": {"conn_type": "slackwebhook", "host": "http://127.0.0.1:1", "password": "T/B/X"},
    "smtp_bench": {"conn_type": "smtp", "host": "127.0.0.1", "port": 1},
    "pagerduty_bench": {"conn_type": "pagerduty_events", "host": "127.0.0.1", "port": 1},
}

CONFIG_YAML = """\
version: 1
databases:
  - name: orders
    conn_id: mysql_bench_orders
    schemas: [shop, crm]
    history_conn_id: mysql_bench_history
    replicas: [{name: orders_replica, conn_id: mysql_bench_orders_replica}]
    cleanup_rules:
      - {name: sessions, table: sessions, date_column: expires_at, retention_days: 30}
      - {name: audit, table: audit_log, date_column: created_at, retention_days: 90,
         cleanup_type: archive}
    backup: {enabled: true, tool: mariadb-dump}
    restore_target: {type: scratch, conn_id: mysql_bench_scratch}
  - name: billing
    conn_id: mysql_bench_billing
  - name: analytics
    conn_id: mysql_bench_analytics
    thresholds: {query_time_warning_s: 10, query_time_critical_s: 30}
custom_schedules:
  orders_half_hourly_health: {database: orders, task_type: health_check, cron: "*/30 * * * *"}
  billing_midweek: {database: billing, task_type: weekly, cron: "0 1 * * 3"}
maintenance:
  window: {start: "01:00", end: "06:00", timezone: UTC}
notifications:
  slack_conn_id: slack_bench
  smtp_conn_id: smtp_bench
  pagerduty_conn_id: pagerduty_bench
  emails: [dba@example.com]
  from_email: airflow@example.com
"""

LIBRARY = "maintenance_ops.dag_parts"
IMPORT_SDK = "import airflow.sdk"
IMPORT_OURS = f"import {LIBRARY}"
SDK_NAMES = "from airflow.sdk import Param, dag, task"  # what dag_parts and DAG files use


@dataclass(frozen=True)
class Stat:
    """Median, min and max of repeated measurements, in seconds."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: list[float]) -> Stat:
        return cls(statistics.median(values), min(values), max(values))

    def ms(self) -> str:
        return f"{_ms(self.median)} ({_ms(self.low)}–{_ms(self.high)})"


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:.0f}" if abs(ms) >= 100 else f"{ms:.1f}"


def _para(text: str) -> str:
    """One Markdown paragraph, wrapped at 100 columns."""
    return textwrap.fill(text, 100, break_long_words=False, break_on_hyphens=False)


# --- the worker: runs inside the hermetic environment, plays the dag-processor manager ----------


def _in_child(work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``work`` in a forked child, as the dag-processor does per file; return its result."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        code = 0
        try:
            result = work()
        except BaseException as exc:  # report anything; never return into the parent's loop
            result, code = {"crash": repr(exc)}, 1
        with os.fdopen(write_fd, "w") as out:
            json.dump(result, out)
        os._exit(code)
    os.close(write_fd)
    with os.fdopen(read_fd) as inp:
        data = inp.read()
    os.waitpid(pid, 0)
    result = json.loads(data)
    if "crash" in result:
        raise RuntimeError(f"the child crashed: {result['crash']}")
    return result


def _parse(path: Path) -> dict[str, Any]:
    """The dag-processor child's work on one file: stability check, DagBag, serialization."""
    from airflow.dag_processing.dagbag import BundleDagBag  # all imported before the fork
    from airflow.serialization.serialized_objects import DagSerialization
    from airflow.utils.dag_version_inflation_checker import check_dag_file_stability

    os.environ["_AIRFLOW_PROCESS_CONTEXT"] = "client"  # as the dag-processor's child sets it
    connects: list[str] = []

    def audit(event: str, args: tuple[Any, ...]) -> None:
        if event == "socket.connect":  # a DAG file must not connect anywhere while parsed
            connects.append(str(args[1]))

    sys.addaudithook(audit)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    check_dag_file_stability(str(path))
    bag = BundleDagBag(
        dag_folder=str(path),
        bundle_path=path.parent,
        bundle_name="dags-folder",
        load_op_links=False,
    )
    wall1 = time.perf_counter()
    for dag in bag.dags.values():
        DagSerialization.to_dict(dag)
    wall2, cpu2 = time.perf_counter(), time.process_time()
    return {
        "parse": wall1 - wall0,
        "serialize": wall2 - wall1,
        "total": wall2 - wall0,
        "cpu": cpu2 - cpu0,
        "dags": len(bag.dags),
        "tasks": sum(len(d.tasks) for d in bag.dags.values()),
        "errors": [e.strip().splitlines()[-1] for e in bag.import_errors.values()],
        "connects": connects,
    }


def _import_library() -> dict[str, Any]:
    """Time importing our library in a child, on top of what the manager has imported."""
    import importlib

    wall, cpu = time.perf_counter(), time.process_time()
    importlib.import_module(LIBRARY)
    return {"wall": time.perf_counter() - wall, "cpu": time.process_time() - cpu}


def _load_plugins() -> str | None:
    """Load plugins/ as every Airflow job does when it starts; say why it failed, if it did."""
    import traceback

    from airflow.listeners.listener import get_listener_manager

    try:
        get_listener_manager()  # Job.__init__ calls this: it imports every .py under plugins/
    except BaseException as exc:  # SystemExit too: it stops the dag-processor all the same
        tb = traceback.extract_tb(exc.__traceback__)
        ours = [f for f in tb if f.filename.startswith(str(PLUGINS))]
        where = f" in {os.path.relpath(ours[0].filename, ROOT)}:{ours[0].lineno}" if ours else ""
        return f"loading plugins/ raised {exc!r}{where}"
    from airflow import plugins_manager

    _, errors = plugins_manager._get_plugins()  # cached: what the call above loaded
    if errors:  # Airflow logs a failed plugin import and goes on
        return "; ".join(f"importing {os.path.basename(f)} failed: {e}" for f, e in errors.items())
    return None


def worker(files: list[Path], repeats: int, out: Path) -> None:
    """Play the dag-processor manager, then fork one child per file, round after round."""
    import importlib

    import airflow.dag_processing.manager  # noqa: F401  # what the manager process imports
    import airflow.serialization.serialized_objects  # noqa: F401
    import airflow.utils.dag_version_inflation_checker  # noqa: F401
    from airflow.utils.file import iter_airflow_imports

    if error := _load_plugins():
        out.write_text(json.dumps({"error": error}))
        return
    for path in files:  # the manager pre-imports each file's airflow.* imports before forking
        for module in iter_airflow_imports(str(path)):
            importlib.import_module(module)
    preloaded = sorted(m for m in sys.modules if m.split(".")[0] == "maintenance_ops")
    # The manager freezes its heap before it forks (DagFileProcessorManager.before_run): without
    # it a child's first full collection walks every object it inherited, about 150 ms here.
    gc.freeze()
    runs: dict[str, list[dict[str, Any]]] = {str(p): [] for p in files}
    library: list[dict[str, Any]] = []
    for round_no in range(repeats + 1):  # round 0 warms the caches and is not kept
        for path in files:  # round-robin, so load changes during the run hit every file alike
            result = _in_child(lambda path=path: _parse(path))
            if round_no:
                runs[str(path)].append(result)
        if round_no:
            library.append(_in_child(_import_library))
    out.write_text(json.dumps({"preloaded": preloaded, "runs": runs, "library": library}))


# --- the driver: builds the environment, runs the measurements, writes the report ----------------


def hermetic_env(tmp: Path, bytecode_cache: bool) -> dict[str, str]:
    """An environment that sees only the temp AIRFLOW_HOME, our folders and closed ports.

    With ``bytecode_cache`` imports use ``.pyc`` files kept in the temp folder (as on a normal
    install, where Python writes them on first import); without it every import compiles its
    source again, as under ``PYTHONDONTWRITEBYTECODE=1`` with no ``.pyc`` files installed.
    """
    home = tmp / "airflow_home"
    home.mkdir()
    shutil.copy(SOURCE_DB, home / "airflow.db")
    config = tmp / "maintenance.yaml"
    config.write_text(CONFIG_YAML, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "_AIRFLOW"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home / 'airflow.db'}",
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(PLUGINS),
        MAINTENANCE_CONFIG=str(config),
    )
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPYCACHEPREFIX", None)
    if bytecode_cache:
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    for conn_id, conn in CONNECTIONS.items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(conn)
    return env


def _run(cmd: list[str], env: dict[str, str]) -> tuple[str, str, float, float]:
    """Run a command; return stdout, stderr, wall seconds and CPU seconds (user + system)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode:
        raise SystemExit(f"{shlex.join(cmd)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return proc.stdout, proc.stderr, wall, cpu


def plugins_without_preload(tmp: Path) -> Path:
    """A plugins folder holding everything of ``plugins/`` but the preload module (symlinks)."""
    folder = tmp / "plugins_without_preload"
    folder.mkdir()
    for entry in PLUGINS.iterdir():
        if entry != PRELOAD and entry.name != "__pycache__":
            (folder / entry.name).symlink_to(entry)
    return folder


def tree_at(rev: str, tmp: Path) -> Path:
    """The repository's files at ``rev`` (``git archive``), for the before/after comparison."""
    tree = tmp / "before"
    tree.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", rev, "dags", "plugins"],
        capture_output=True,
        check=False,
    )
    if archive.returncode:
        raise SystemExit(f"git archive {rev} failed: {archive.stderr.decode()[-500:]}")
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def measure_before(
    env: dict[str, str], rev: str, baseline: Path, repeats: int, tmp: Path
) -> dict[str, Any]:
    """Measure ``rev``'s DAG files as the current ones are (forked, with its preload)."""
    tree = tree_at(rev, tmp)
    files = sorted((tree / "dags").glob("*.py"))
    before_env = {
        **env,
        # Its maintenance_ops, not the installed one (the virtualenv's .pth comes after).
        "PYTHONPATH": os.pathsep.join(filter(None, [str(tree / "plugins"), env.get("PYTHONPATH")])),
        "AIRFLOW__CORE__DAGS_FOLDER": str(tree / "dags"),
    }
    forked = measure_forked(
        before_env, [*files, baseline], repeats, tmp, tree / "plugins", label="before"
    )
    return {"rev": rev, "files": files, "forked": forked}


def measure_forked(
    env: dict[str, str],
    files: list[Path],
    repeats: int,
    tmp: Path,
    plugins: Path = PLUGINS,
    label: str = "",
) -> dict:
    """The worker's results: {"runs": {file: [...]}, "library": [...], ...} or {"error": ...}."""
    out = tmp / f"worker_{label or plugins.name}.json"
    cmd = [sys.executable, __file__, "--worker", str(out), "--repeats", str(repeats)]
    _run([*cmd, *map(str, files)], {**env, "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins)})
    return json.loads(out.read_text())


def _duration(text: str) -> float:
    hours, minutes, seconds = text.split(":")
    return timedelta(hours=int(hours), minutes=int(minutes), seconds=float(seconds)).total_seconds()


def measure_dags_report(env: dict[str, str], folders: list[Path], repeats: int) -> dict:
    """``airflow dags report -o json`` per folder: {folder: [{file: seconds}, ...]}."""
    airflow = str(Path(sys.executable).parent / "airflow")
    runs: dict[str, list[dict[str, float]]] = {str(f): [] for f in folders}
    for round_no in range(repeats + 1):  # round 0 fills the bytecode cache and is not kept
        for folder in folders:
            folder_env = {**env, "AIRFLOW__CORE__DAGS_FOLDER": str(folder)}
            stdout, *_ = _run([airflow, "dags", "report", "-o", "json"], folder_env)
            # Airflow may print warnings on stdout before the JSON: take the JSON line.
            line = next(ln for ln in reversed(stdout.splitlines()) if ln.startswith("["))
            if round_no:
                stats = {r["file"]: _duration(r["duration"]) for r in json.loads(line)}
                runs[str(folder)].append(stats)
    return runs


def measure_imports(env: dict[str, str], repeats: int) -> dict[str, Any]:
    """Fresh-interpreter import times (wall, CPU) and our modules' ``-X importtime`` lines."""
    runs: dict[str, list[float]] = {k: [] for k in ("sdk", "sdk_cpu", "ours", "ours_cpu")}
    for _ in range(repeats):
        for key, code in (("sdk", IMPORT_SDK), ("ours", IMPORT_OURS)):
            _, _, wall, cpu = _run([sys.executable, "-c", code], env)
            runs[key].append(wall)
            runs[f"{key}_cpu"].append(cpu)
    code = f"{SDK_NAMES}; {IMPORT_OURS}"
    _, stderr, _, _ = _run([sys.executable, "-X", "importtime", "-c", code], env)
    pattern = r"import time:\s+(\d+) \|\s+(\d+) \|\s*(maintenance_ops\S*)"
    ours = [(m[3], int(m[1]), int(m[2])) for m in re.finditer(pattern, stderr)]
    return {"runs": runs, "importtime": ours}


def machine() -> dict[str, str]:
    """The shared machine description, plus the Python and Airflow versions."""
    return {
        **base_machine(),
        "python": platform.python_version(),
        "airflow": f"apache-airflow {version('apache-airflow')}, "
        f"task-sdk {version('apache-airflow-task-sdk')}",
    }


# --- the report ----------------------------------------------------------------------------------


def _forked_table(forked: dict[str, Any], files: list[Path], baseline: Path) -> list[str]:
    runs_of = forked["runs"]
    base = Stat.of([r["total"] for r in runs_of[str(baseline)]])
    lines = [
        "| File | DAGs | Tasks | Parse | Serialize | Parse + serialize | CPU | × empty DAG |",
        "|---|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for path in [*files, baseline]:
        runs = runs_of[str(path)]
        total = Stat.of([r["total"] for r in runs])
        name = "**empty DAG (baseline)**" if path == baseline else f"`{path.name}`"
        lines.append(
            f"| {name} | {runs[0]['dags']} | {runs[0]['tasks']} "
            f"| {Stat.of([r['parse'] for r in runs]).ms()} "
            f"| {Stat.of([r['serialize'] for r in runs]).ms()} | {total.ms()} "
            f"| {_ms(Stat.of([r['cpu'] for r in runs]).median)} "
            f"| {total.median / base.median:.1f} |"
        )
    rounds = range(len(runs_of[str(baseline)]))
    folder = Stat.of([sum(runs_of[str(p)][i]["total"] for p in files) for i in rounds])
    cpu = Stat.of([sum(runs_of[str(p)][i]["cpu"] for p in files) for i in rounds])
    lines.append(
        f"| **folder total ({len(files)} files)** "
        f"| {sum(runs_of[str(p)][0]['dags'] for p in files)} "
        f"| {sum(runs_of[str(p)][0]['tasks'] for p in files)} | | | {folder.ms()} "
        f"| {_ms(cpu.median)} | {folder.median / base.median:.1f} |"
    )
    return lines


def _forked_section(forked: dict[str, Any], files: list[Path], baseline: Path, intro: str) -> str:
    if "error" in forked:
        return (
            f"**The dag-processor cannot start**: {forked['error']}. Airflow imports every `.py` "
            "file under `plugins/` (not listed in `plugins/.airflowignore`) when a job starts; "
            "it logs a failed import and goes on, a `SystemExit` stops it. No numbers."
        )
    preloaded = len(forked["preloaded"])
    intro += (
        f" Loading the plugins imported {preloaded} `maintenance_ops` modules into the manager"
        + (", so each child imports our library again." if not preloaded else ".")
    )
    return "\n".join([_para(intro), "", *_forked_table(forked, files, baseline)])


FORKED_INTRO = (
    "The manager loads `plugins/` at start, as every Airflow job does (`Job()` calls "
    "`get_listener_manager()`, which imports every `.py` file there), and pre-imports the "
    "file's `airflow.*` imports; then it freezes its heap (`gc.freeze()`, as the real manager "
    "does) and forks a child per file, which checks the file's stability, parses it (`DagBag`) "
    'and serializes its DAGs. Times are taken in the child ("Parse" includes the stability '
    "check). `plugins/` as shipped holds `maintenance_ops_preload.py`, which imports the "
    "DAG-building modules (`maintenance_ops.dag_parts`, the configuration models, the operator "
    "classes, the cron timetable), has Airflow find the fields each operator class serializes "
    "(which it otherwise does in every child, on the class's first serialization) and reads the "
    "configuration, which a child reuses while the file's modification time and size are "
    "unchanged."
)
BARE_INTRO = (
    "The same, with `plugins/maintenance_ops_preload.py` left out of the plugins folder, as in a "
    "deployment that installs the package with pip and does not copy that file there."
)
FORKED_OUTRO = (
    "The folder total is the work of one parsing loop over `dags/`; the dag-processor repeats it "
    "every `min_file_process_interval` (default 30 s). The dag-processor's own figure "
    "(`last_parse_duration`) also counts starting and supervising the child, so it is higher for "
    "every file, the empty DAG included."
)


def _worst_ratio(
    forked: dict[str, Any], files: list[Path], baseline: Path
) -> tuple[float, str, int]:
    """The highest per-file ratio to the empty DAG (medians of parse + serialize), its file and
    how many DAGs that file defines."""
    runs = forked["runs"]
    base = statistics.median(r["total"] for r in runs[str(baseline)])
    return max(
        (
            statistics.median(r["total"] for r in runs[str(p)]) / base,
            p.name,
            runs[str(p)][0]["dags"],
        )
        for p in files
    )


def goal_line(forked: dict[str, Any], bare: dict[str, Any], files: list[Path], base: Path) -> str:
    """Say whether every file parses within 2x the empty DAG, with and without the preload."""
    parts = []
    for variant, where in ((forked, "with the preload"), (bare, "without it")):
        if "error" in variant:
            parts.append(f"{where}: not measured ({variant['error']})")
            continue
        ratio, name, dags = _worst_ratio(variant, files, base)
        verdict = "met" if ratio <= 2 else "missed"
        per_dag = f", {ratio / dags:.1f}x per DAG: it defines {dags}" if dags > 1 else ""
        parts.append(f"{where} {verdict} (worst file `{name}`, {ratio:.1f}x{per_dag})")
    return "Goal: every file at most 2x the empty DAG (parse + serialize, medians): " + (
        "; ".join(parts) + "."
    )


def _ratios(forked: dict[str, Any], files: list[Path], baseline: Path) -> dict[str, Any]:
    """Each file's name -> (tasks, median parse + serialize, its ratio to the empty DAG)."""
    runs = forked["runs"]
    base = statistics.median(r["total"] for r in runs[str(baseline)])
    return {
        p.name: (
            runs[str(p)][0]["tasks"],
            statistics.median(r["total"] for r in runs[str(p)]),
            statistics.median(r["total"] for r in runs[str(p)]) / base,
        )
        for p in files
    }


def _before_section(results: dict[str, Any]) -> str:
    """Each file now and at ``--before``, each against the empty DAG of its own measurement."""
    before, baseline = results["before"], results["baseline"]
    if "error" in before["forked"] or "error" in results["forked"]:
        return _para(f"Not compared: {before['forked'].get('error') or 'see above'}.")
    then = _ratios(before["forked"], before["files"], baseline)
    now = _ratios(results["forked"], results["files"], baseline)
    base_then = statistics.median(r["total"] for r in before["forked"]["runs"][str(baseline)])
    base_now = statistics.median(r["total"] for r in results["forked"]["runs"][str(baseline)])
    intro = (
        "The same measurement (forked, with the preload) of the DAG files and library at "
        f"{before['subject']}, taken right after the one above; each file "
        "against the empty DAG of its own measurement, so a change of load between the two "
        "cancels out."
    )
    lines = [
        "| File | Tasks then | Then | × empty DAG | Tasks now | Now | × empty DAG |",
        "|---|--:|--:|--:|--:|--:|--:|",
    ]
    worse = []
    for name in sorted(set(then) | set(now)):
        old, new = then.get(name), now.get(name)
        cells = [f"| `{name}` "]
        for found in (old, new):
            cells.append(
                f"| {found[0]} | {_ms(found[1])} | {found[2]:.1f} " if found else "| - | - | - "
            )
        lines.append("".join(cells) + "|")
        if old and new and round(new[2], 1) > round(old[2], 1):
            worse.append(f"`{name}` {old[2]:.1f}x -> {new[2]:.1f}x")
    lines.append(
        f"| **empty DAG (baseline)** | 1 | {_ms(base_then)} | 1.0 | 1 | {_ms(base_now)} | 1.0 |"
    )
    verdict = (
        f"missed: {', '.join(worse)}" if worse else "met (no file's ratio rose, at one decimal)"
    )
    goal = f"Goal: no file parses slower, against the empty DAG, than then: {verdict}."
    return "\n".join([_para(intro), "", *lines, "", _para(goal)])


def _report_table(report: dict, dags: Path, baseline: Path) -> list[str]:
    runs = report[str(dags)]
    lines = ["| File | Duration |", "|---|--:|"]
    for name in sorted(runs[0], key=lambda n: -statistics.median(r[n] for r in runs)):
        lines.append(f"| `{name}` | {Stat.of([r[name] for r in runs]).ms()} |")
    lines.append(f"| **folder total** | {Stat.of([sum(r.values()) for r in runs]).ms()} |")
    base = report[str(baseline)]
    lines.append(f"| **empty DAG (baseline)** | {Stat.of([sum(r.values()) for r in base]).ms()} |")
    return lines


def _noise(a: Stat, b: Stat) -> str:
    spread = max(a.high - a.low, b.high - b.low)
    return " (smaller than the run-to-run spread)" if abs(b.median - a.median) < spread else ""


def _imports_table(
    imports: dict[str, Any], forked: dict[str, Any], bare: dict[str, Any]
) -> list[str]:
    runs = imports["runs"]
    sdk, ours = Stat.of(runs["sdk"]), Stat.of(runs["ours"])
    sdk_cpu, ours_cpu = Stat.of(runs["sdk_cpu"]).median, Stat.of(runs["ours_cpu"]).median
    lines = [
        "| What | Wall | CPU |",
        "|---|--:|--:|",
        f'| `python -c "{IMPORT_SDK}"` (fresh interpreter) | {sdk.ms()} | {_ms(sdk_cpu)} |',
        f'| `python -c "{IMPORT_OURS}"` (fresh interpreter) | {ours.ms()} | {_ms(ours_cpu)} |',
        f"| difference of the medians{_noise(sdk, ours)} | {_ms(ours.median - sdk.median)} "
        f"| {_ms(ours_cpu - sdk_cpu)} |",
    ]
    for variant, where in ((forked, "with the preload"), (bare, "without the preload")):
        if "library" in variant:
            wall = Stat.of([r["wall"] for r in variant["library"]])
            cpu = Stat.of([r["cpu"] for r in variant["library"]]).median
            lines.append(
                f"| `{IMPORT_OURS}` in a dag-processor child (forked from the manager above, "
                f"{where}) | {wall.ms()} | {_ms(cpu)} |"
            )
    return lines


def render(results: dict[str, Any]) -> str:
    files, baseline, m = results["files"], results["baseline"], results["machine"]
    our_modules = "\n".join(
        f"| `{name}` | {self_us / 1000:.1f} | {cum_us / 1000:.1f} |"
        for name, self_us, cum_us in results["imports"]["importtime"]
    )
    problems = results["problems"] or ["none"]
    bytecode = (
        "cached (`.pyc` files written on first import into the temp folder)"
        if results["bytecode_cache"]
        else "not cached (`PYTHONDONTWRITEBYTECODE=1`: every import compiles its source)"
    )
    what = (
        "What: the time Airflow takes to parse each file of `dags/`, beside one empty DAG file "
        "(`@dag` + one `EmptyOperator`) measured the same way in the same run, and what "
        f"importing our library costs. Median (min–max) of {results['repeats']} repeats after a "
        'warm-up, in milliseconds. "CPU" is the median CPU time (user + system), which other '
        "load on the machine disturbs less than wall time. Configuration: 3 databases, 2 custom "
        "schedules; every `AIRFLOW_CONN_*` points at 127.0.0.1:1; SQLite metadata database in a "
        f"temporary `AIRFLOW_HOME`. Python bytecode: {bytecode}."
    )
    importtime = (
        f'`python -X importtime -c "{SDK_NAMES}; {IMPORT_OURS}"`, our modules (ms; '
        '"cumulative" includes the modules each one imported first):'
    )
    return f"""{SECTION}

{_para(what)}

- Machine: {m["nproc"]} CPUs (`nproc`), {m["memory"]} memory, {m["cpu"]}; Python {m["python"]};
  {m["airflow"]}. Load average (1 min): {results["load"][0]:.2f} at start,
  {results["load"][1]:.2f} at end.
- Command: `{results["command"]}`
- Date: {results["date"]}
- Problems (dag-processor start, import errors, connections while parsing): {"; ".join(problems)}.

### As the dag-processor parses: one forked child per file

{_forked_section(results["forked"], files, baseline, FORKED_INTRO)}

{_forked_section(results["forked_bare"], files, baseline, BARE_INTRO)}

{_para(FORKED_OUTRO)}

{_para(goal_line(results["forked"], results["forked_bare"], files, baseline))}
{_before_part(results)}
### `airflow dags report -o json`: one process, whole folder

One process parses every file, so what the files share (importing `maintenance_ops`, reading
the configuration) is paid once, by the first file parsed.

{chr(10).join(_report_table(results["dags_report"], DAGS, baseline.parent))}

### Import cost of our library

{chr(10).join(_imports_table(results["imports"], results["forked"], results["forked_bare"]))}

{_para(importtime)}

| Module | Self | Cumulative |
|---|--:|--:|
{our_modules}
"""


def _before_part(results: dict[str, Any]) -> str:
    if not results.get("before"):
        return ""
    return f"""
### Before and after

{_before_section(results)}
"""


def problems(forked: dict[str, Any]) -> list[str]:
    """A failed start, import errors and connection attempts while parsing, one line each."""
    found = {f"dag-processor start: {forked['error']}"} if "error" in forked else set()
    for path, runs in forked.get("runs", {}).items():
        for run in runs:
            found.update(f"{Path(path).name}: {e}" for e in run["errors"])
            found.update(f"{Path(path).name} connected to {a}" for a in run["connects"])
    return sorted(found)


def _subject(rev: str) -> str:
    """How the report names ``rev``: its hash and subject, or for ``X^`` the commit before X's."""

    def show(what: str) -> tuple[str, str]:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "log", "-1", "--format=%h|%s", what],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        short, subject = out.split("|", 1)
        return short, subject if len(subject) <= 80 else subject[:79] + "…"

    short, subject = show(rev)
    if rev.endswith("^"):
        child, child_subject = show(rev[:-1])
        return f"`{short}`, the commit before `{child}` ({child_subject})"
    return f"`{short}` ({subject})"


def _progress(message: str) -> None:
    print(f"parse_time: {message}", file=sys.stderr, flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"update {DOC.relative_to(ROOT)}")
    parser.add_argument("--repeats", type=int, default=5, help="repeats per measurement")
    parser.add_argument(
        "--no-bytecode-cache",
        dest="bytecode_cache",
        action="store_false",
        help="compile every import from source, as under PYTHONDONTWRITEBYTECODE=1",
    )
    parser.add_argument(
        "--before",
        metavar="REV",
        help="also measure the DAG files and library at this git revision, for a before/after "
        "table (e.g. the commit before a change that adds tasks)",
    )
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("files", nargs="*", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.files, args.repeats, args.worker)
        return 0
    if not SOURCE_DB.exists():
        raise SystemExit(f"{SOURCE_DB} is missing: run `make setup` first")

    command = [os.path.relpath(sys.executable, ROOT), os.path.relpath(__file__, ROOT)]
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="parse_time_") as tmp_name:
        tmp = Path(tmp_name)
        env = hermetic_env(tmp, args.bytecode_cache)
        baseline = tmp / "empty_dag" / "empty_dag.py"
        baseline.parent.mkdir()
        baseline.write_text(EMPTY_DAG, encoding="utf-8")
        files = sorted(DAGS.glob("*.py"))
        _progress(f"{len(files)} DAG files + the empty DAG, forked, {args.repeats} repeats")
        forked = measure_forked(env, [*files, baseline], args.repeats, tmp)
        _progress("the same without plugins/maintenance_ops_preload.py")
        forked_bare = measure_forked(
            env, [*files, baseline], args.repeats, tmp, plugins_without_preload(tmp)
        )
        before = None
        if args.before:
            _progress(f"the DAG files at {args.before}, forked, {args.repeats} repeats")
            before = measure_before(env, args.before, baseline, args.repeats, tmp)
            before["subject"] = _subject(args.before)
        _progress("airflow dags report -o json (several seconds a run)")
        report = measure_dags_report(env, [DAGS, baseline.parent], args.repeats)
        _progress("import cost")
        imports = measure_imports(env, args.repeats)
    results = {
        "files": files,
        "baseline": baseline,
        "forked": forked,
        "forked_bare": forked_bare,
        "before": before,
        "dags_report": report,
        "imports": imports,
        "repeats": args.repeats,
        "bytecode_cache": args.bytecode_cache,
        "machine": machine(),
        "load": (load_start, os.getloadavg()[0]),
        "command": shlex.join([*command, *sys.argv[1:]]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "problems": problems(forked)
        + problems(forked_bare)
        + (problems(before["forked"]) if before else []),
    }
    text = render(results)
    print(text)
    if args.write:
        write_section(SECTION, text)
        _progress(f"updated {DOC.relative_to(ROOT)}")
    if max(results["load"]) > len(os.sched_getaffinity(0)):
        _progress("the machine was busy (load > nproc): wall times are inflated, see CPU")
    for problem in results["problems"]:
        _progress(f"PROBLEM: {problem}")
    return 1 if results["problems"] else 0


if __name__ == "__main__":
    sys.exit(main())
