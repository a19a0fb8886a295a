"""Hand secrets to child processes through a pipe: never on disk, never on the command line."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator


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
