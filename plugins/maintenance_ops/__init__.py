"""MySQL Maintenance Coordinator: the library behind the maintenance DAGs.

Importing this package is cheap on purpose: DAG files import it at parse time, so heavy
modules (provider hooks, notifiers, MySQLdb) are imported inside the functions that use them.
"""

from __future__ import annotations

__version__ = "0.1.0"
