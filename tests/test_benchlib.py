"""bench/benchlib.write_section: replace or append one section of docs/benchmarks.md."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

from benchlib import DOC_HEADER, write_section  # noqa: E402

ALPHA = "## Alpha\n\nold alpha\n"
BETA = "## Beta (issue 2)\n\nold beta\n"
DOC = f"{DOC_HEADER}\n{ALPHA}\n{BETA}"


@pytest.mark.parametrize(
    ("section", "text", "expected"),
    [
        pytest.param(  # trailing blank lines of the text are dropped
            "## Alpha",
            "## Alpha\n\nnew alpha\nsecond line\n\n\n",
            f"{DOC_HEADER}\n## Alpha\n\nnew alpha\nsecond line\n\n{BETA}",
            id="replace-first-keeps-the-next",
        ),
        pytest.param(
            "## Beta (issue 2)",
            "## Beta (issue 2)\n\nnew beta",
            f"{DOC_HEADER}\n{ALPHA}\n## Beta (issue 2)\n\nnew beta\n",
            id="replace-last-keeps-the-previous",
        ),
        pytest.param(  # a prefix of an existing title is another section
            "## Alph",
            "## Alph\n\ngamma\n",
            f"{DOC}\n## Alph\n\ngamma\n",
            id="append-new",
        ),
    ],
)
def test_write_section(tmp_path: Path, section: str, text: str, expected: str) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(DOC, encoding="utf-8")
    write_section(section, text, doc=doc)
    assert doc.read_text(encoding="utf-8") == expected


def test_a_missing_doc_starts_from_the_header(tmp_path: Path) -> None:
    doc = tmp_path / "docs" / "benchmarks.md"
    write_section("## Alpha", "## Alpha\n\nalpha\n", doc=doc)
    assert doc.read_text(encoding="utf-8") == f"{DOC_HEADER}\n## Alpha\n\nalpha\n"
