"""The one credentials path: option files for child processes, written once, read from a pipe.

A password never goes on a command line (every local user sees ``ps``) nor into a file left
behind: :func:`option_file` writes the text, refusing what would change its meaning, and
:func:`secret_pipe` hands it to the child as ``/dev/fd/N``. A tool that reads its option file
more than once gets :func:`private_option_file` instead: a 0600 file whose name carries our
pid, so the next run's leftover cleanup removes it if a kill left it behind.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from maintenance_ops.core.exceptions import ConfigError

_OPTION_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
# Line breaks end a value (what follows would be read as new options or a [group]); NUL ends
# the C string the client reads.
_BREAKING = ("\n", "\r", "\x00")


def option_file(
    options: Mapping[str, str | int | None], groups: Sequence[str] = ("client",)
) -> bytes:
    """Return a MySQL/MariaDB option file setting ``options`` in each of ``groups``.

    Every value is double-quoted with ``\\`` and ``"`` escaped, so ``#`` and ``;`` (comments),
    leading ``!`` (``!include``), ``[`` (a group), spaces and escape sequences are read back
    as the characters they are. ``None`` leaves an option out.

    :param options: option name (``user``, ``password``, ``host``, ``port``...) to value.
    :param groups: the groups to write them under (``client``, ``mydumper``, ``mariabackup``...).
    :raises ConfigError: a value holds a line break or NUL, or a name is not an option name;
        the message never shows the value.
    """
    lines = []
    for name, value in options.items():
        if not _OPTION_NAME.match(name):
            raise ConfigError(f"{name!r} is not an option name (lowercase letters, digits, _ or -)")
        if value is None:
            continue
        text = str(value)
        if any(c in text for c in _BREAKING):
            raise ConfigError(
                f"the connection's {name} holds a line break or NUL, which an option file "
                f"cannot carry; change the {name} (the value is not shown)"
            )
        lines.append(f'{name}="' + text.replace("\\", "\\\\").replace('"', '\\"') + '"')
    for group in groups:
        if not _OPTION_NAME.match(group):
            raise ConfigError(f"{group!r} is not an option group name")
    body = "".join(f"{line}\n" for line in lines)
    return "".join(f"[{group}]\n{body}" for group in groups).encode()


@contextlib.contextmanager
def secret_pipe(data: bytes) -> Iterator[int]:
    """Yield the read end of a pipe already holding ``data``; pass it with ``pass_fds``.

    A child reads it as ``/dev/fd/N`` (an option file) or ``fd:N`` (openssl). ``data`` must be
    small (an option file, a key): it is written whole before the child starts, so it has to fit
    in the pipe buffer (64 KiB on Linux).
    """
    if len(data) > 60_000:
        raise ValueError("secret_pipe is for small secrets; the pipe buffer holds 64 KiB")
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, data)
        os.close(write_fd)
        write_fd = -1
        yield read_fd
    finally:
        for fd in (read_fd, write_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)


@contextlib.contextmanager
def private_option_file(data: bytes, prefix: str) -> Iterator[Path]:
    """Yield a 0600 ``<tmp>/<prefix><pid>-*.cnf`` file holding ``data``; remove it afterwards.

    Only for tools that read their option file more than once (myloader's workers, mydumper
    run again after a stall, a dump tool's connections), which a pipe cannot serve. The pid in
    the name lets ``backup.remove_dead_pid_leftovers`` remove it after a kill.

    :param data: the file's text, from :func:`option_file`.
    :param prefix: the caller's leftover prefix (``mmc-backup-cred-``).
    """
    fd, name = tempfile.mkstemp(prefix=f"{prefix}{os.getpid()}-", suffix=".cnf")  # 0600
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        yield path
    finally:
        path.unlink(missing_ok=True)


def read_option_password(path: str | os.PathLike[str], group: str = "client") -> str | None:
    """Return the ``password`` that an option file written by :func:`option_file` sets in
    ``group`` (None when it sets none), undoing its quoting; the value is never shown.

    For a runbook reaching a kept private server through the ``root.cnf`` the restore printed.

    :raises ConfigError: the file cannot be read (named, with the reason).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read option file {path}: {exc.strerror or exc}") from None
    current = None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            current = line[1:-1].strip()
            continue
        name, sep, value = line.partition("=")
        if current != group or not sep or name.strip() != "password":
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            return re.sub(r"\\(.)", r"\1", value[1:-1])
        return value
    return None
