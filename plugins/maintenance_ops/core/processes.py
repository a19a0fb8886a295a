"""The one process runner: every tool the package starts goes through :class:`Pipeline`.

* **argv only**, never a shell; names taken from a server or a configuration are checked by
  :func:`checked_names` (a name starting with ``-`` would be read as an option) and put after
  ``--`` where the tool supports it (:func:`after_options`).
* **stderr to files** (one per stage, in a private folder), never a pipe read at the end: a
  tool that writes more than a pipe holds (64 KiB) cannot block on it.
* **progress**: an ``on_tick`` callback every ``tick_s`` while the pipeline runs.
* **a timeout**, and the **whole pipeline killed** (each stage's process group, so a tool's own
  children go too) when a stage fails, the timeout passes, or the caller is interrupted.

Stages hand data on through OS pipes (``stdin=PREVIOUS``); a stage's stdout may also be a
file, an fd, or kept for the caller (``stdout=CALLER``) to read while the pipeline runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from maintenance_ops.core.exceptions import ConfigError, MaintenanceError

log = logging.getLogger(__name__)

PREVIOUS = "previous"  # stdin: the previous stage's stdout
NEXT = "next"  # stdout: the next stage's stdin
CALLER = "caller"  # stdout: a pipe the caller reads (Pipeline.stdout(name))
STDERR_PREFIX = "mmc-proc-"
# For grep stages over a dump or binlog stream with ASCII patterns: the same matches as in a
# UTF-8 locale, 5-8x less CPU (300 MB of SQL: 1.0 s in C.UTF-8, 0.13-0.19 s in C).
BYTE_LOCALE: Mapping[str, str] = {"LC_ALL": "C"}
_TAIL = 2000


class ProcessFailed(MaintenanceError):
    """A tool of a pipeline failed; the message names it, its exit code and its stderr."""


class ProcessTimeout(ProcessFailed):
    """A pipeline ran past its timeout and was killed."""


def checked_names(names: Iterable[str], what: str) -> list[str]:
    """Return ``names`` if none can be read as an option by a tool; raise ConfigError otherwise.

    :param what: what the names are (``schema``), for the message.
    """
    found = [str(n) for n in names]
    bad = [n for n in found if n.startswith("-") or "\0" in n or not n]
    if bad:
        raise ConfigError(
            f"{what} name(s) {', '.join(repr(n) for n in bad)} would be read as a tool option "
            f"(a leading '-', an empty name or a NUL): rename the {what} or leave it out of the "
            "configuration; nothing was run"
        )
    return found


def after_options(names: Iterable[str], what: str) -> list[str]:
    """Return ``["--", *names]``: checked names, after the end of a tool's options."""
    return ["--", *checked_names(names, what)]


Target = str | int | Path | None


@dataclass
class Stage:
    """One process of a pipeline.

    :param argv: the command (a list: never a shell).
    :param name: the stage's name in messages (default: the program).
    :param stdin: ``PREVIOUS`` (the last ``stdout=NEXT`` before it), an fd, a Path to read,
        or None (``/dev/null``).
    :param stdout: ``NEXT``, ``CALLER``, an fd, a Path to write, or None (``/dev/null``).
    :param ok: exit codes that are not a failure (``grep`` selecting nothing exits 1).
    :param pass_fds: descriptors the tool inherits (option files read from a pipe).
    :param env: extra environment variables.
    """

    argv: Sequence[str]
    name: str = ""
    stdin: Target = None
    stdout: Target = None
    ok: frozenset[int] = frozenset({0})
    pass_fds: tuple[int, ...] = ()
    env: Mapping[str, str] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.argv, str):
            raise TypeError("Stage.argv is a list of arguments, never a shell string")
        self.argv = [str(a) for a in self.argv]
        self.name = self.name or Path(self.argv[0]).name


@dataclass
class Pipeline:
    """Start stages connected by pipes; wait with a timeout; kill them all on any failure.

    :param stages: in stream order.
    :param what: what the pipeline does, starting every error message.
    :param timeout_s: kill everything and raise :class:`ProcessTimeout` after this long.
    :param on_tick: called every ``tick_s`` while running (progress); an exception it raises
        kills the pipeline and propagates.
    :param error: the exception class raised on failure (a subclass of MaintenanceError).
    :param stderr_dir: where stderr files go (default: a private temp folder, removed on close).
    :param side_fds: our ends of side pipes (``tee /dev/fd/N``) that stages inherit; closed once
        every stage started, so a dead stage stops the ones feeding it (SIGPIPE) instead of
        leaving them blocked on a pipe only we still hold open.
    """

    stages: Sequence[Stage]
    what: str
    timeout_s: float | None = None
    on_tick: Callable[[], None] | None = None
    tick_s: float = 0.5
    error: type[MaintenanceError] = ProcessFailed
    stderr_dir: Path | None = None
    side_fds: tuple[int, ...] = ()
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list, init=False)
    _own_dir: Path | None = field(default=None, init=False)
    _killed: bool = field(default=False, init=False)

    # ---- lifecycle ---------------------------------------------------------------------

    def __enter__(self) -> Pipeline:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is not None:
            self.kill()
        self.close()

    def start(self) -> Pipeline:
        """Start every stage; on any error kill the ones started and raise."""
        if self.stderr_dir is None:
            self._own_dir = Path(tempfile.mkdtemp(prefix=f"{STDERR_PREFIX}{os.getpid()}-"))
            self.stderr_dir = self._own_dir
        try:
            self._start_all()
        except BaseException:
            self.kill()
            raise
        finally:
            for fd in self.side_fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
        return self

    def _start_all(self) -> None:
        previous: IO[bytes] | None = None
        for index, stage in enumerate(self.stages):
            with contextlib.ExitStack() as files:
                stdin = self._stdin(stage, previous, files)
                stdout = self._stdout(stage, files)
                err = files.enter_context(self.stderr_path(index).open("wb"))
                proc = subprocess.Popen(
                    list(stage.argv),
                    stdin=stdin,
                    stdout=stdout,
                    stderr=err,
                    pass_fds=stage.pass_fds,
                    env={**os.environ, **stage.env} if stage.env else None,
                    process_group=0,  # killable as a whole, with the tool's own children
                )
            self.procs.append(proc)
            if stage.stdin == PREVIOUS and previous is not None:
                previous.close()  # the stage holds it now; ours would hold EOF back
                previous = None
            if stage.stdout == NEXT:
                previous = proc.stdout  # for the next stage reading PREVIOUS (side stages between)

    def _stdin(self, stage: Stage, previous: IO[bytes] | None, files: Any) -> Any:
        if stage.stdin == PREVIOUS:
            if previous is None:
                raise ValueError(f"stage {stage.name}: stdin=PREVIOUS needs stdout=NEXT before it")
            return previous
        if isinstance(stage.stdin, Path):
            return files.enter_context(stage.stdin.open("rb"))
        return subprocess.DEVNULL if stage.stdin is None else stage.stdin

    def _stdout(self, stage: Stage, files: Any) -> Any:
        if stage.stdout in (NEXT, CALLER):
            return subprocess.PIPE
        if isinstance(stage.stdout, Path):
            return files.enter_context(stage.stdout.open("wb"))
        return subprocess.DEVNULL if stage.stdout is None else stage.stdout

    def stderr_path(self, index: int) -> Path:
        """Return where stage ``index`` writes its stderr."""
        assert self.stderr_dir is not None
        return self.stderr_dir / f"{index}-{self.stages[index].name}.stderr"

    def stderr(self, name: str) -> str:
        """Return what the stage called ``name`` wrote to stderr so far."""
        index = [s.name for s in self.stages].index(name)
        path = self.stderr_path(index)
        return path.read_text(errors="replace") if path.exists() else ""

    def stdout(self, name: str) -> IO[bytes]:
        """Return the stdout pipe of the stage called ``name`` (``stdout=CALLER``)."""
        proc = self.procs[[s.name for s in self.stages].index(name)]
        assert proc.stdout is not None
        return proc.stdout

    def proc(self, name: str) -> subprocess.Popen[bytes]:
        """Return the process of the stage called ``name``."""
        return self.procs[[s.name for s in self.stages].index(name)]

    def close(self) -> None:
        """Close the caller's pipes and remove the private stderr folder."""
        for proc in self.procs:
            if proc.stdout is not None:
                with contextlib.suppress(OSError):
                    proc.stdout.close()
        if self._own_dir is not None:
            import shutil

            shutil.rmtree(self._own_dir, ignore_errors=True)
            self._own_dir = None

    # ---- waiting and killing ------------------------------------------------------------

    def kill(self) -> None:
        """Kill every stage still running (and its process group), then reap them all."""
        for proc in self.procs:
            if proc.poll() is None:
                self._killed = True
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                with contextlib.suppress(OSError):
                    proc.kill()
        for proc in self.procs:
            with contextlib.suppress(Exception):
                proc.wait(timeout=30)

    def wait(self) -> None:
        """Wait for every stage; raise naming the failed one (the others killed) or the timeout."""
        started = time.monotonic()
        last_tick = started
        try:
            while True:
                running = [p for p in self.procs if p.poll() is None]
                failed = self._failures(ignore_killed=False)
                if failed and running:
                    self.kill()  # a failed stage: the rest cannot produce a whole result
                if not running or failed:
                    break
                now = time.monotonic()
                if self.timeout_s is not None and now - started > self.timeout_s:
                    self.kill()
                    raise ProcessTimeout(
                        f"{self.what}: {', '.join(self._names(running))} still running after "
                        f"{self.timeout_s:g}s: killed{self._tails(running)}"
                    )
                if self.on_tick is not None and now - last_tick >= self.tick_s:
                    last_tick = now
                    self.on_tick()
                time.sleep(0.05)
        except BaseException:
            self.kill()  # a timeout, an interrupt or a failing progress hook
            raise
        self.check()

    def check(self) -> None:
        """Raise naming every failed stage, the one furthest downstream first."""
        failed = self._failures(ignore_killed=True)
        if failed:
            raise self.error(
                f"{self.what} failed: "
                + "; ".join(
                    f"{self.stages[i].name} exited with {self.procs[i].returncode}: "
                    f"{self._tail(i) or '(no output)'}"
                    for i in failed
                )
            )

    def _failures(self, *, ignore_killed: bool) -> list[int]:
        found = []
        for index in reversed(range(len(self.procs))):
            code = self.procs[index].returncode
            if code is None or code in self.stages[index].ok:
                continue
            if ignore_killed and self._killed and code == -signal.SIGKILL:
                continue  # killed by us because another stage failed
            found.append(index)
        return found

    def _names(self, procs: Sequence[subprocess.Popen[bytes]]) -> list[str]:
        return [self.stages[self.procs.index(p)].name for p in procs]

    def _tail(self, index: int) -> str:
        path = self.stderr_path(index)
        text = path.read_text(errors="replace").strip() if path.exists() else ""
        return text[-_TAIL:]

    def _tails(self, procs: Sequence[subprocess.Popen[bytes]]) -> str:
        parts = []
        for proc in procs:
            index = self.procs.index(proc)
            tail = self._tail(index)
            if tail:
                parts.append(f"; {self.stages[index].name}: {tail[-300:]}")
        return "".join(parts)


def run(
    argv: Sequence[str],
    what: str,
    *,
    timeout_s: float | None,
    stdin: Target = None,
    stdout: Target = None,
    ok: Iterable[int] = (0,),
    pass_fds: tuple[int, ...] = (),
    env: Mapping[str, str] | None = None,
    on_tick: Callable[[], None] | None = None,
    error: type[MaintenanceError] = ProcessFailed,
) -> str:
    """Run one tool to completion through a :class:`Pipeline`; return its stderr text.

    For a tool whose stdout is wanted, pass ``stdout=<Path>``, or use :func:`output`.
    """
    stage = Stage(argv, stdin=stdin, stdout=stdout, ok=frozenset(ok), pass_fds=pass_fds, env=env)
    with Pipeline([stage], what, timeout_s=timeout_s, on_tick=on_tick, error=error) as pipe:
        pipe.wait()
        return pipe.stderr(stage.name)


def output(
    argv: Sequence[str],
    what: str,
    *,
    timeout_s: float | None,
    ok: Iterable[int] = (0,),
    error: type[MaintenanceError] = ProcessFailed,
    env: Mapping[str, str] | None = None,
) -> tuple[int, str, str]:
    """Run one tool; return ``(exit code, stdout, stderr)`` as text (small outputs only).

    :param env: variables added to the environment (private to the process, unlike argv).
    """
    with tempfile.TemporaryDirectory(prefix=f"{STDERR_PREFIX}{os.getpid()}-") as folder:
        out = Path(folder) / "stdout"
        stage = Stage(argv, stdout=out, ok=frozenset(ok), env=env)
        pipe = Pipeline([stage], what, timeout_s=timeout_s, error=error, stderr_dir=Path(folder))
        with pipe:
            pipe.wait()
            code = pipe.procs[0].returncode
            return code, out.read_text(errors="replace"), pipe.stderr(stage.name)


def spawn(argv: Sequence[str], *, log_path: Path) -> subprocess.Popen[bytes]:
    """Start a long-running process (a private server) that its caller stops; argv only.

    Its own session keeps Ctrl-C in a terminal (SIGINT to the group) away from it, so the
    owner can still shut it down cleanly; stdout and stderr append to ``log_path``.
    """
    if isinstance(argv, str):
        raise TypeError("argv is a list of arguments, never a shell string")
    with open(log_path, "ab") as out:
        return subprocess.Popen(
            [str(a) for a in argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
