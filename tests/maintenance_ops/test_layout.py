"""The library's wings import downward only: operators and DAG parts -> wings -> core.

``core`` imports nothing above it; ``observe`` (health, history, alerts, reports) only the core;
``upkeep`` and ``recovery`` the core and ``observe`` (they report through alerts and read the
health history), never each other; no wing imports the operators, the DAG parts, the UI or the
command-line modules on top.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "plugins" / "maintenance_ops"
WINGS = ("core", "observe", "upkeep", "recovery")
ALLOWED = {
    "core": {"core"},
    "observe": {"core", "observe"},
    "upkeep": {"core", "observe", "upkeep"},
    "recovery": {"core", "observe", "recovery"},
}


def imported_parts(path: Path) -> set[str]:
    """The first component under ``maintenance_ops`` of every module ``path`` imports."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        modules: list[str] = []
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "maintenance_ops":
                modules = [f"maintenance_ops.{a.name}" for a in node.names]
            else:
                modules = [node.module]
        elif isinstance(node, ast.Import):
            modules = [a.name for a in node.names]
        for module in modules:
            parts = module.split(".")
            if parts[0] == "maintenance_ops" and len(parts) > 1:
                found.add(parts[1])
    return found


def wing_files(wing: str) -> list[Path]:
    return sorted((PACKAGE / wing).rglob("*.py"))


@pytest.mark.parametrize("wing", WINGS)
def test_a_wing_imports_only_below_it(wing: str) -> None:
    files = wing_files(wing)
    assert files, f"no modules under {wing}/"
    wrong = {
        str(f.relative_to(PACKAGE)): sorted(imported_parts(f) - ALLOWED[wing])
        for f in files
        if imported_parts(f) - ALLOWED[wing]
    }
    assert not wrong, f"{wing}/ imports above or beside it: {wrong}"


def test_every_library_module_sits_in_a_wing_or_on_top() -> None:
    on_top = {p.name for p in PACKAGE.iterdir() if p.suffix == ".py" or p.is_dir()} - {
        "__pycache__"
    }
    assert on_top == {
        "__init__.py",
        "__main__.py",
        "asset_refresh.py",
        "coordinator.py",
        "dag_parts.py",
        "demo.py",
        "operators",
        "ui",
        *WINGS,
    }
