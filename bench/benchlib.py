"""Helpers shared by the benchmark scripts under ``bench/``.

The scripts are run as ``.venv/bin/python bench/<name>.py``, so this directory is on
``sys.path`` and they import it as ``from benchlib import ...``.
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
DOC_HEADER = """# Benchmarks

Each section is written by a script under `bench/`: what was measured, on which machine, with
which command and when. Re-run the command to refresh a section; the others are left alone.
"""


def machine() -> dict[str, str]:
    """Describe the machine: CPUs (``nproc``), memory, CPU model and operating system."""
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
        meminfo = Path("/proc/meminfo").read_text()
    except OSError:
        cpuinfo = meminfo = ""
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    mem_kb = re.search(r"^MemTotal:\s*(\d+) kB", meminfo, re.M)
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "memory": f"{int(mem_kb[1]) / 1024**2:.1f} GiB" if mem_kb else "?",
        "cpu": model[1].strip() if model else platform.processor() or "?",
        "system": platform.system(),
    }


def write_section(section: str, text: str, doc: Path = DOC) -> None:
    """Replace (or append) ``section`` in ``doc`` with ``text``, leaving other sections alone.

    ``section`` is the section's heading line (``## ...``) and ``text`` the whole section,
    heading included. A missing ``doc`` starts from ``DOC_HEADER``.
    """
    content = doc.read_text(encoding="utf-8") if doc.exists() else DOC_HEADER
    pattern = re.compile(rf"^{re.escape(section)}\n.*?(?=^## |\Z)", re.M | re.S)
    block = text.rstrip("\n") + "\n"
    if pattern.search(content):
        content = pattern.sub(lambda _: block + "\n", content, count=1).rstrip("\n") + "\n"
    else:
        content = content.rstrip("\n") + "\n\n" + block
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(content, encoding="utf-8")


def root_option_file(inst: object) -> Path:
    """Write a private (0600) option file for root of a private server; return its path.

    Private servers have a random root password: the tools the benchmarks compare against
    (pt-*, the clients, myloader) read it from here (``--defaults-file``, DSN ``F=``), never
    from their command line. It lives in the instance's folder and goes with it.
    """
    from maintenance_ops.pipes import option_file

    path = Path(inst.dir) / "bench-root.cnf"  # type: ignore[attr-defined]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(
            option_file(
                {"user": inst.user, "password": inst.password},  # type: ignore[attr-defined]
                ("client", "myloader"),
            )
        )
    return path
