"""A TCP forwarder on loopback: the same server under another port, as a proxy would show it.

ProxySQL, HAProxy or a second DNS name make one server reachable at several addresses; the
restore safety must see through that. Used as a context manager::

    with TcpForwarder("127.0.0.1", 3306) as port:
        ...  # 127.0.0.1:<port> reaches the server at 127.0.0.1:3306
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class TcpForwarder:
    """Forward every connection to ``listen`` (default ``127.0.0.1:<free port>``) upstream."""

    def __init__(
        self, host: str, upstream_port: int, *, listen: tuple[str, int] = ("127.0.0.1", 0)
    ) -> None:
        self.upstream = (host, upstream_port)
        self._listener = socket.create_server(listen)  # a loopback address only
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> int:
        self._thread.start()
        return self.port

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop accepting and cut every forwarded connection."""
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        for sock in list(self._sockets):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()
        self._thread.join(timeout=5)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(a, b), daemon=True).start()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while chunk := src.recv(65536):
            dst.sendall(chunk)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)
