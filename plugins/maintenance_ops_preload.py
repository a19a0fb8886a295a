"""Import what building the maintenance DAGs needs once, in the dag-processor manager.

Airflow 3.3's dag-processor imports every ``.py`` file of ``plugins/`` (except what
``plugins/.airflowignore`` lists) when it starts: ``Job()`` calls ``get_listener_manager()``,
which loads the plugins. Only then does the manager fork one child per DAG file, and a module
the manager has imported is inherited by every child instead of imported again for each file
at each parsing loop (the manager's ``parsing_pre_import_modules`` does the same for the
``airflow.*`` modules a DAG file names). The DAG files' own imports are ``maintenance_ops``,
which Airflow does not pre-import: this file does, for the modules that *build* the DAGs (the
configuration models, the ``@task`` parts, every step's operator class), and does the work
Airflow does lazily on the first serialization of each operator class (``dag_parts.warm_up``).
What the tasks run is imported inside ``execute`` and stays out of here.

It also reads the configuration once: ``load_config`` caches it by the file's modification
time and size, so a child finds it parsed while the file is unchanged and reads it again when
it changed. An invalid file is left to the DAG files, which report it as their import error in
one line. An edit to this code, as to any plugin, needs the components restarted.

Every Airflow component that loads plugins runs this once at start. A failed import is
Airflow's plugin import error (``airflow plugins``), and the DAG files report it too. Nothing
here is an ``AirflowPlugin``: there is nothing to register.
"""

from __future__ import annotations

import contextlib

from maintenance_ops import dag_parts
from maintenance_ops.core.config import load_config
from maintenance_ops.core.exceptions import ConfigError

dag_parts.warm_up()

with contextlib.suppress(ConfigError):
    if any(db.statistics_on_assets for db in load_config().databases):
        # mysql_statistics_on_assets builds its schedule from Assets: load the providers' URI
        # handlers here once, not in every child that parses it (0.3-1 s a parse otherwise).
        from maintenance_ops.asset_refresh import load_uri_handlers

        load_uri_handlers()
