"""The one execution layer: every statement the package sends goes through :func:`run`.

Two rules hold for every statement, whoever built it:

* **Values are bound.** The driver's parameter step (``%s`` / ``%(name)s``) always runs, so a
  literal ``%`` that *we* write in SQL is always ``%%`` (the SQL files and the builders follow
  this), and a value can never become SQL.
* **Names read from a server stay names.** MySQL allows any character in a quoted identifier,
  ``%`` included (``a%b``, ``%s``, ``a%%b``). The driver's parameter step would read those as
  placeholders (``not enough arguments for format string``) or silently rename them (``a%%b``
  becoming ``a%b``). :func:`protect_identifiers` doubles every ``%`` inside backtick quotes just
  before the driver sees the statement, so the parameter step gives the name back unchanged. We
  never write ``%`` inside backticks ourselves, so nothing else is touched.

Every connection is opened by :func:`connect` (the one opener): utf8mb4, the socket when one is
given (else TCP), read and write timeouts (:func:`connection_options`, so a frozen server ends a
wait instead of hanging a task past its execution timeout), autocommit, and a
:class:`~maintenance_ops.core.exceptions.ConnectionFailed` naming the server and the fix, never the
password.
"""

from __future__ import annotations

from typing import Any

from maintenance_ops.core.exceptions import ConnectionFailed

# MySQL client error codes that mean "the server is not there (any more)": retryable.
CONNECTION_ERRORS = frozenset({2002, 2003, 2005, 2006, 2013, 2055})


def protect_identifiers(sql: str) -> str:
    """Double ``%`` inside backtick-quoted identifiers; leave strings, comments and the rest.

    >>> protect_identifiers("SELECT `a%b` FROM t WHERE c LIKE 'x%%' AND d = %s")
    "SELECT `a%%b` FROM t WHERE c LIKE 'x%%' AND d = %s"
    """
    if "%" not in sql or "`" not in sql:
        return sql
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch == "`":
            end = i + 1
            while end < n:  # a doubled backtick is a backtick inside the name
                if sql[end] == "`":
                    if end + 1 < n and sql[end + 1] == "`":
                        end += 2
                        continue
                    break
                end += 1
            out.append(sql[i : end + 1].replace("%", "%%"))
            i = end + 1
        elif ch in "'\"":
            end = _string_end(sql, i)
            out.append(sql[i:end])
            i = end
        elif sql.startswith("--", i) or ch == "#":
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end])
            i = end
        elif sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(sql[i:end])
            i = end
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _string_end(sql: str, start: int) -> int:
    """Index just past the string literal opened at ``start`` (backslash and doubled quotes)."""
    quote = sql[start]
    i = start + 1
    while i < len(sql):
        if sql[i] == "\\":
            i += 2
            continue
        if sql[i] == quote:
            if i + 1 < len(sql) and sql[i + 1] == quote:
                i += 2
                continue
            return i + 1
        i += 1
    return len(sql)


def run(conn: Any, sql: str, args: Any = ()) -> tuple[list[str], list[tuple[Any, ...]], int]:
    """Run one statement on a MySQLdb connection: ``(column names, rows, affected rows)``.

    ``args`` defaults to ``()`` so the driver's parameter step runs (see the module docstring)
    and identifiers are protected for it. ``args=None`` sends the text exactly as written, with
    no parameter step: for administrators' scripts (``'user'@'%'``), never for built SQL.
    """
    cursor = _tuple_cursor(conn)
    try:
        if args is None:
            cursor.execute(sql)
        else:
            cursor.execute(protect_identifiers(sql), args)
        if cursor.description is None:
            return [], [], int(cursor.rowcount)
        names = [d[0] for d in cursor.description]
        return names, list(cursor.fetchall()), int(cursor.rowcount)
    finally:
        cursor.close()


def rows(conn: Any, sql: str, args: Any = ()) -> list[tuple[Any, ...]]:
    """Run a statement and return its rows as tuples."""
    return run(conn, sql, args)[1]


def dicts(conn: Any, sql: str, args: Any = ()) -> list[dict[str, Any]]:
    """Run a statement and return its rows as dicts keyed by column name."""
    names, found, _ = run(conn, sql, args)
    return [dict(zip(names, row, strict=True)) for row in found]


def execute(conn: Any, sql: str, args: Any = ()) -> int:
    """Run a statement and return its affected row count."""
    return run(conn, sql, args)[2]


def _tuple_cursor(conn: Any) -> Any:
    """A cursor returning tuples, whatever cursor class the connection was opened with."""
    from MySQLdb.cursors import Cursor

    return conn.cursor(Cursor)


def execute_many(conn: Any, sql: str, seq: Any) -> int:
    """Run one statement for each parameter tuple of ``seq`` (multi-row INSERT by the driver)."""
    cursor = _tuple_cursor(conn)
    try:
        cursor.executemany(protect_identifiers(sql), seq)
        return int(cursor.rowcount)
    finally:
        cursor.close()


def connection_options(
    *, connect_timeout: float, read_timeout: float, write_timeout: float
) -> dict[str, Any]:
    """MySQLdb ``connect()`` options that bound every wait on the server (whole seconds).

    ``read_timeout`` must outlast the longest statement we send (the session's statement time
    limit plus a margin); a frozen or vanished server then ends the wait with error 2013.
    """
    return {
        "connect_timeout": max(1, int(connect_timeout)),
        "read_timeout": max(1, int(read_timeout)),
        "write_timeout": max(1, int(write_timeout)),
        "charset": "utf8mb4",
    }


# Login refused: the account, not the server, needs fixing.
_LOGIN_ERRORS = frozenset({1044, 1045, 1698})


def connect(
    *,
    user: str,
    password: str | None = None,
    host: str = "127.0.0.1",
    port: int = 3306,
    socket: str | None = None,
    database: str | None = None,
    connect_timeout: float = 10,
    read_timeout: float = 3660,
    write_timeout: float = 60,
    autocommit: bool = True,
    label: str | None = None,
    **extra: Any,
) -> Any:
    """Open a MySQLdb connection: the one place the package opens one.

    :param socket: the server's unix socket; when set, ``host`` and ``port`` are not used.
    :param read_timeout: longest wait for an answer (outlast the longest statement sent).
    :param label: how messages name the server (default: its socket or ``host:port``).
    :param extra: further ``MySQLdb.connect`` options (``ssl``, ``read_default_file``...).
    :raises ConnectionFailed: the server cannot be reached or refused the login; the message
        names the server and the fix, never the password.
    """
    import MySQLdb

    params: dict[str, Any] = {
        "user": user,
        "passwd": password or "",
        **connection_options(
            connect_timeout=connect_timeout, read_timeout=read_timeout, write_timeout=write_timeout
        ),
    }
    if socket:
        params["unix_socket"] = socket
    else:
        params.update(host=host, port=int(port))
    if database:
        params["db"] = database
    params.update(extra)
    try:
        conn = MySQLdb.connect(**params)
    except MySQLdb.Error as exc:
        code, message = (exc.args + ("",))[:2]
        hint = (
            "check the user and password"
            if code in _LOGIN_ERRORS
            else "check that the server is running and the host, port or socket"
        )
        where = label or socket or f"{host}:{port}"
        raise ConnectionFailed(f"{where}: cannot connect: [{code}] {message}; {hint}") from None
    conn.autocommit(autocommit)
    return conn
