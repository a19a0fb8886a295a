"""Benchmark: the fleet page (issue 19) for 200 databases with 90 days of hourly health samples.

Run it from the repository root (``make setup`` first; PostgreSQL must be up for the api-server
part)::

    .venv/bin/python bench/ui_fleet.py            # print the results as Markdown
    .venv/bin/python bench/ui_fleet.py --write    # also update docs/benchmarks.md

1. Starts a private MariaDB (``MySQLInstance``, never the shared server) and fills one central
   history store (``history_conn_id``) with 200 databases' history, in the shapes the package's
   writers leave (``tests/support/history_seed.py``): 90 days of hourly ``health_samples``
   (200 x 2,160 = 432,000 rows, each with its metrics, breaches and details JSON), the audit log
   of 90 daily runs and 7 days of hourly health-check runs, and restore tests and drills.
2. **In process**: times what the page's handler does with the history: the one statement per
   store (``maintenance_ops.ui.fleet.read_stores``), joining it with the run records
   (``assemble``) and rendering the HTML (``pages.fleet_page``); the first build, then the
   median of ``--repeats``. ``EXPLAIN`` of the statement shows the index each part reads.
3. **Through the api-server**: a private ``airflow api-server`` with the plugin and the same
   configuration answers ``GET /mysql-maintenance/fleet`` (and ``/api/fleet``) with a token:
   authentication, Airflow's run records (none here: no DAG ran), the history statement, the
   HTML, over HTTP.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from benchlib import ROOT, machine, write_section

sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "plugins"))

from maintenance_ops.core.config import parse_config  # noqa: E402
from maintenance_ops.core.instance import InstanceSpec, MySQLInstance  # noqa: E402
from maintenance_ops.ui import pages  # noqa: E402
from maintenance_ops.ui.fleet import (  # noqa: E402
    BUCKETS,
    TREND_DAYS,
    assemble,
    fleet_sql,
    read_stores,
    store_of,
)
from maintenance_ops.ui.runs import RunInfo, RunsSnapshot  # noqa: E402
from tests.support.history_seed import Profile, create_tables, insert_rows, sample_rows  # noqa: E402

SECTION = "## UI fleet page (issue 19)"
DATABASES = 200
DAYS = 90
HISTORY = "_maintenance"
HIST_CONN = "mmc_bench_ui_hist"
DAILY, HEALTH = "mysql_daily_maintenance", "mysql_health_check"
GOAL_S = 1.0


def profiles() -> list[Profile]:
    """200 databases: most healthy, every 10th degraded, every 25th critical."""
    out = []
    for i in range(DATABASES):
        name = f"db{i:03d}"
        if i % 25 == 0:
            out.append(Profile(name, base_score=70, latest_score=40, latest_status="critical"))
        elif i % 10 == 0:
            out.append(Profile(name, base_score=75))
        else:
            out.append(Profile(name))
    return out


def daily_run(day: int) -> str:
    return f"scheduled__daily_{day:03d}"


def health_run(hour: int) -> str:
    return f"scheduled__health_{hour:04d}"


def seed(inst: MySQLInstance, now: datetime) -> dict[str, float]:
    """Write the history; return how long each part took and the table sizes."""
    conn = inst.connect()
    cur = conn.cursor()
    started = time.monotonic()
    create_tables(cur, HISTORY)
    q = f"`{HISTORY}`"
    for profile in profiles():
        insert_rows(
            cur,
            f"{q}.health_samples",
            "database_name, sampled_at, run_id, score, status, metrics, breaches, details",
            sample_rows(profile, now, DAYS),
        )
        conn.commit()
    samples_s = time.monotonic() - started
    audit = []
    for profile in profiles():
        for day in range(DAYS):
            at = now - timedelta(days=day, hours=2)
            for command, outcome in (
                (f"preflight {DAILY}", "ok"),
                ("backup mariadb-dump", "ok"),
                ("cleanup sessions", "skipped" if day % 7 == 0 else "ok"),
            ):
                audit.append((profile.name, command, at, at, outcome, DAILY, daily_run(day)))
        for hour in range(7 * 24):
            at = now - timedelta(hours=hour)
            for command in (f"preflight {HEALTH}", "health sample"):
                audit.append((profile.name, command, at, at, "ok", HEALTH, health_run(hour)))
    insert_rows(
        cur,
        f"{q}.maintenance_log",
        "database_name, command, started_at, ended_at, outcome, dag_id, run_id",
        audit,
    )
    recovery = [
        (p.name, kind, now - timedelta(days=d), 1, 40.0 + d, 3600.0)
        for p in profiles()
        for kind, days in (("restore_test", range(0, DAYS, 7)), ("dr_drill", range(0, DAYS, 30)))
        for d in days
    ]
    insert_rows(
        cur,
        f"{q}.recovery_tests",
        "database_name, kind, tested_at, ok, rto_s, rpo_s",
        recovery,
    )
    conn.commit()
    cur.execute("ANALYZE TABLE `_maintenance`.`health_samples`, `_maintenance`.`maintenance_log`")
    cur.fetchall()
    sizes = dict(
        inst.execute(
            "SELECT table_name, ROUND((data_length + index_length) / 1048576) "
            "FROM information_schema.tables WHERE table_schema = %s",
            (HISTORY,),
        )
    )
    conn.close()
    return {
        "samples_s": samples_s,
        "total_s": time.monotonic() - started,
        "audit_rows": float(len(audit)),
        "recovery_rows": float(len(recovery)),
        **{f"mb_{k}": float(v) for k, v in sizes.items()},
    }


def config_text() -> str:
    return json.dumps(
        {
            "databases": [
                {
                    "name": p.name,
                    "conn_id": f"bench_db_{i}",
                    "history_conn_id": HIST_CONN,
                    "backup": {"enabled": True},
                }  # fmt: skip
                for i, p in enumerate(profiles())
            ],
            "notifications": {"enable_deadlines": False},
        }
    )


def runs_snapshot(now: datetime) -> RunsSnapshot:
    """Airflow's records as the api-server would read them: the latest daily and health runs."""
    names = [p.name for p in profiles()]
    daily = RunInfo(DAILY, daily_run(0), "success", now - timedelta(hours=2))
    daily.tasks = dict.fromkeys(names, "success")
    health = RunInfo(HEALTH, health_run(0), "success", now)
    health.tasks = dict.fromkeys(names, "success")
    return RunsSnapshot(
        latest={DAILY: daily, HEALTH: health},
        recent={DAILY: [daily_run(d) for d in range(14)]},
    )


def build_once(config: Any, runs: RunsSnapshot) -> dict[str, float]:
    """Build the fleet page once: the statement, the assembly, the HTML."""
    now = datetime.now(UTC).replace(tzinfo=None)
    t0 = time.perf_counter()
    stores = read_stores(
        config, latest_runs=runs.latest_refs(), backup_runs=runs.backup_refs(), now=now
    )
    t1 = time.perf_counter()
    rows = assemble(config, stores, runs, now)
    t2 = time.perf_counter()
    html = pages.fleet_page(rows, ui_root="/", generated_at=now)
    t3 = time.perf_counter()
    bad = [v for v in stores.values() if isinstance(v, str)]
    if bad or len(rows) != DATABASES or rows[0].status != "critical":
        raise SystemExit(f"unexpected fleet: {bad[:1]} {len(rows)} rows, first {rows[0]}")
    return {
        "query": t1 - t0,
        "assemble": t2 - t1,
        "html": t3 - t2,
        "total": t3 - t0,
        "html_kb": len(html) / 1024,
    }


def explain(inst: MySQLInstance, config: Any, runs: RunsSnapshot) -> list[tuple[Any, ...]]:
    """Return ``(table, type, key, rows)`` of each part of the statement's plan."""
    now = datetime.now(UTC).replace(tzinfo=None)
    names = [d.name for d in config.databases]
    sql, args = fleet_sql(
        HISTORY,
        frozenset({"health_samples", "maintenance_log", "recovery_tests"}),
        names,
        latest_runs=runs.latest_refs(),
        backup_runs=runs.backup_refs(),
        since=now - timedelta(days=TREND_DAYS),
    )
    conn = inst.connect()
    try:
        cur = conn.cursor()
        cur.execute("EXPLAIN " + sql, args)
        cols = [d[0] for d in cur.description]
        out = []
        for row in cur.fetchall():
            r = dict(zip(cols, row, strict=True))
            out.append((r["id"], r["table"], r["type"], r["key"], r["rows"], r["Extra"]))
        return out
    finally:
        conn.close()


def over_http(inst: MySQLInstance, config_path: Path, repeats: int) -> dict[str, Any]:
    """Time ``GET /mysql-maintenance/fleet`` on a private api-server with the plugin."""
    import requests

    from tests.support.ui_server import plugin_api_server

    work = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    stack = plugin_api_server(work, config_path, {HIST_CONN: inst.url()})
    with stack:
        headers = {"Authorization": f"Bearer {stack.token()}"}
        out: dict[str, Any] = {}
        for path in ("/mysql-maintenance/fleet", "/mysql-maintenance/api/fleet"):
            times = []
            for _ in range(repeats + 1):
                t0 = time.perf_counter()
                resp = requests.get(f"{stack.api_url}{path}", headers=headers, timeout=60)
                times.append(time.perf_counter() - t0)
                resp.raise_for_status()
            out[path] = {"first": times[0], "median": statistics.median(times[1:]),
                         "kb": len(resp.content) / 1024}  # fmt: skip
        return out


def run(repeats: int, http: bool) -> dict[str, Any]:
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    spec = InstanceSpec(
        innodb_buffer_pool_size="512M",
        extra_args=("--innodb-flush-log-at-trx-commit=2", "--max-allowed-packet=64M"),
    )
    with MySQLInstance(spec) as inst, tempfile.TemporaryDirectory() as tmp:
        os.environ[f"AIRFLOW_CONN_{HIST_CONN.upper()}"] = inst.url()
        print(f"seeding {DATABASES} databases x {DAYS} days on {inst.version} ...", file=sys.stderr)
        seeded = seed(inst, now)
        print(f"seeded in {seeded['total_s']:.0f} s", file=sys.stderr)
        config_path = Path(tmp) / "maintenance.yaml"
        config_path.write_text(config_text())
        config = parse_config(config_path.read_text(), config_path)
        assert len({store_of(d) for d in config.databases}) == 1
        runs = runs_snapshot(now)
        load = os.getloadavg()[0]
        first = build_once(config, runs)
        full = []
        for _ in range(repeats):
            BUCKETS.forget()  # the whole 30-day window, as the first page or every 15 min
            full.append(build_once(config, runs))
        warm = [build_once(config, runs) for _ in range(repeats)]
        plan = explain(inst, config, runs)
        web = over_http(inst, config_path, repeats) if http else {}
        return {
            "server": inst.version,
            "seeded": seeded,
            "first": first,
            "full": {k: statistics.median(b[k] for b in full) for k in first},
            "median": {k: statistics.median(b[k] for b in warm) for k in first},
            "worst": max(b["total"] for b in full + warm),
            "plan": plan,
            "http": web,
            "load": (load, os.getloadavg()[0]),
            "repeats": repeats,
        }


def section(r: dict[str, Any], command: str) -> str:
    m = machine()
    s, med, first, full = r["seeded"], r["median"], r["first"], r["full"]
    lines = [
        SECTION,
        "",
        f"What: the fleet page's data and HTML for {DATABASES} databases sharing one central "
        f"history store with {DAYS} days of hourly health samples "
        f"({DATABASES * DAYS * 24:,} rows, {s.get('mb_health_samples', 0):.0f} MiB with "
        f"indexes), {s['audit_rows']:,.0f} audit rows ({DAYS} daily runs and 7 days of hourly "
        f"health checks per database, {s.get('mb_maintenance_log', 0):.0f} MiB) and "
        f"{s['recovery_rows']:,.0f} restore tests and drills. Private {r['server']} "
        "(`MySQLInstance`, buffer pool 512M). One statement per history store (here one).",
        "",
        f"- Machine: {m['nproc']} CPUs (`nproc`), {m['memory']} memory, {m['cpu']}",
        f"- Command: `{command}`",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Load average (1 min): {r['load'][0]:.2f} before the builds, {r['load'][1]:.2f} after",
        f"- Seeding took {s['total_s']:.0f} s (not measured below).",
        "",
        f"| In process (seconds) | first build | full read (median of {r['repeats']}) | "
        f"incremental (median of {r['repeats']}) |",
        "|---|--:|--:|--:|",
    ]
    labels = {
        "query": "history statement (`read_stores`: connect + one round trip)",
        "assemble": "join with the run records (`assemble`)",
        "html": f"HTML with {2 * DATABASES} sparklines (`fleet_page`, {med['html_kb']:.0f} KiB)",
        "total": f"**total** (slowest build {r['worst']:.3f})",
    }
    for key, label in labels.items():
        lines.append(f"| {label} | {first[key]:.3f} | {full[key]:.3f} | {med[key]:.3f} |")
    lines += [
        "",
        "*First build*: what a process does once (importing the database driver, Airflow's "
        "connection lookup) plus a full read. *Full read*: the statement reads the 30-day "
        "window's score buckets (an index range over 200 x 720 samples, each row read for its "
        "score): the first page of an api-server process, and every 15 minutes. "
        "*Incremental*: complete 6-hour buckets are kept by the process (`BucketCache`), so the "
        "statement reads only the samples of the bucket still filling (its other parts as "
        "always).",
    ]
    if r["http"]:
        lines += [
            "",
            "| Through the api-server (seconds) | first request (builds the app, full read) | "
            "median (incremental) | Size |",
            "|---|--:|--:|--:|",
        ]
        for path, t in r["http"].items():
            lines.append(
                f"| `GET {path}` | {t['first']:.3f} | {t['median']:.3f} | {t['kb']:.0f} KiB |"
            )
    goal = full["total"] < GOAL_S and all(t["median"] < GOAL_S for t in r["http"].values())
    lines += [
        "",
        f"Goal: under {GOAL_S:g} s: **{'met' if goal else 'NOT met'}** (the full read's median "
        "in process, the api-server's median). The api-server times include the token check, "
        "Airflow's run records (no DAG has run on this private api-server, so those reads "
        "return nothing) and the response over HTTP.",
        "",
        "`EXPLAIN` of the statement (a full read): every history table is read through an "
        "index (`range` or `ref`); the `<derivedN>` rows are the small grouped results (one "
        "row per database) joined back to fetch the newest sample, restore test and drill:",
        "",
        "| id | table | type | key | rows | Extra |",
        "|--:|---|---|---|--:|---|",
    ]
    lines += [f"| {i} | {t} | {ty} | {k} | {n} | {x or ''} |" for i, t, ty, k, n, x in r["plan"]]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-http", action="store_true", help="skip the api-server part")
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    parser.add_argument("--databases", type=int, default=DATABASES, help="smaller: a smoke run")
    parser.add_argument("--days", type=int, default=DAYS)
    args = parser.parse_args()
    if args.write and (args.databases, args.days) != (DATABASES, DAYS):
        raise SystemExit("--write records the full size only (200 databases, 90 days)")
    globals().update(DATABASES=args.databases, DAYS=args.days)
    command = ".venv/bin/python bench/ui_fleet.py" + (" --write" if args.write else "")
    results = run(args.repeats, not args.no_http)
    text = section(results, command)
    print(text)
    if args.write:
        write_section(SECTION, text)


if __name__ == "__main__":
    main()
