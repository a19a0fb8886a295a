"""Tests for maintenance_ops.core.processes: argv only, stderr to files, timeouts, whole-pipeline kills."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from maintenance_ops.core.exceptions import ConfigError
from maintenance_ops.core.processes import (
    NEXT,
    PREVIOUS,
    Pipeline,
    ProcessFailed,
    ProcessTimeout,
    Stage,
    after_options,
    checked_names,
    run,
)


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("--result-file=/tmp/x.py", id="long-option"),
        pytest.param("-r/tmp/x", id="short-option"),
        pytest.param("", id="empty"),
        pytest.param("a\0b", id="nul"),
    ],
)
def test_names_read_as_options_are_refused(name: str) -> None:
    with pytest.raises(ConfigError, match="would be read as a tool option"):
        checked_names(["app", name], "schema")


def test_names_go_after_the_end_of_options() -> None:
    assert after_options(["app", "t-price", "a b"], "schema") == ["--", "app", "t-price", "a b"]


def test_a_shell_string_is_refused() -> None:
    with pytest.raises(TypeError, match="never a shell"):
        Stage("sleep 1")  # type: ignore[arg-type]


def test_a_tool_that_hangs_is_killed_at_its_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(ProcessTimeout, match=r"sleep still running after 1s: killed"):
        run(["sleep", "60"], "a hanging tool", timeout_s=1)
    assert time.monotonic() - started < 10


def test_a_failing_tool_kills_the_rest_of_the_pipeline() -> None:
    pipeline = Pipeline(
        [
            Stage(["sleep", "60"], stdout=NEXT),
            Stage(["cat"], stdin=PREVIOUS, stdout=NEXT),
            Stage([sys.executable, "-c", "import sys; sys.stderr.write('boom'); sys.exit(3)"],
                  "loader", stdin=PREVIOUS),
        ],
        "a pipeline",
        timeout_s=60,
    )  # fmt: skip
    started = time.monotonic()
    with pytest.raises(ProcessFailed, match="a pipeline failed: loader exited with 3: boom") as err:
        with pipeline:
            pipeline.wait()
    assert time.monotonic() - started < 10
    assert "sleep" not in str(err.value)  # killed by us: not reported as a failure
    assert all(p.returncode is not None for p in pipeline.procs)  # nothing left running


def test_an_interrupt_kills_the_whole_pipeline() -> None:
    def interrupt() -> None:
        raise KeyboardInterrupt

    pipeline = Pipeline(
        [Stage(["sleep", "60"], stdout=NEXT), Stage(["cat"], stdin=PREVIOUS)],
        "an interrupted pipeline",
        timeout_s=60,
        on_tick=interrupt,
        tick_s=0.1,
    )
    with pytest.raises(KeyboardInterrupt), pipeline:
        pipeline.wait()
    # Nothing is left running: the producer was killed; the consumer was killed too, or had
    # already ended on the end of its input that the kill caused (a race, seen in a full run).
    assert pipeline.procs[0].returncode == -9
    assert pipeline.procs[1].returncode in (-9, 0)


def test_stderr_past_a_pipe_buffer_does_not_deadlock(tmp_path: Path) -> None:
    noisy = "import sys; sys.stderr.write('x' * 300000 + 'END'); print('done')"
    out = tmp_path / "out"
    text = run([sys.executable, "-c", noisy], "a noisy tool", timeout_s=30, stdout=out)
    assert text.endswith("END") and len(text) == 300003
    assert out.read_text() == "done\n"
