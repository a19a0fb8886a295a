"""The shared test server as the backed-up source of a restore test (see maintenance_ops.core.identity)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from maintenance_ops.core.identity import SourceServer, marked_source
from maintenance_ops.core.session import Endpoint, connect

# How the tests name the shared server's address; the identity, not this, decides.
SHARED = Endpoint("source", "localhost", 3306)


@contextlib.contextmanager
def source_of(conn_id: str, history_schema: str) -> Iterator[SourceServer]:
    """Identify the server behind ``conn_id`` (its maintenance account) as a restore's source."""
    conn = connect(conn_id)
    try:
        with marked_source(conn, SHARED, history_schema) as source:
            yield source
    finally:
        conn.close()
