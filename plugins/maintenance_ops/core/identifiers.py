"""The one identifier guard: validate names, then backtick-quote them in one place."""

from __future__ import annotations

import re

from maintenance_ops.core.exceptions import IdentifierError

# Names a user writes in configuration or run params: plain ASCII, as MySQL allows unquoted.
# Stricter than MySQL on purpose, so that `users; DROP TABLE x` can never reach SQL.
SAFE_IDENTIFIER = re.compile(r"^[A-Za-z0-9_$]{1,64}$")
MAX_IDENTIFIER_LENGTH = 64


def validate_identifier(name: object, what: str = "identifier") -> str:
    """Return ``name`` if it is a safe identifier, else raise naming the value and the rule."""
    if not isinstance(name, str) or not SAFE_IDENTIFIER.match(name):
        raise IdentifierError(
            f"{what} {name!r} is not a valid identifier: use 1-64 letters, digits, '_' or '$'"
        )
    return name


def quote_identifier(name: str) -> str:
    """Backtick-quote a name read from the server's catalog (which may hold any character).

    Catalog names can be unicode or reserved words, so they are not held to
    :data:`SAFE_IDENTIFIER`; quoting doubles any backtick, which is MySQL's only escape
    inside a quoted identifier.
    """
    if not isinstance(name, str) or not name or len(name) > MAX_IDENTIFIER_LENGTH:
        raise IdentifierError(f"identifier {name!r} must be a non-empty string of at most 64 chars")
    if "\x00" in name or name.endswith(" "):
        raise IdentifierError(f"identifier {name!r} holds a NUL or a trailing space")
    return "`" + name.replace("`", "``") + "`"


def qualified(schema: str, table: str) -> str:
    """Quote ``schema.table`` for use in SQL."""
    return f"{quote_identifier(schema)}.{quote_identifier(table)}"
