"""What each supported server has: system tables and columns, variables, statements.

Compiled from the vendors' reference manuals (no MySQL server is available here); only what the
package uses is listed, plus what is known to be removed, so a statement naming a removed table
fails with the reason. Table and column lists per manual page:

MySQL 8.0 / 8.4 Reference Manual (https://dev.mysql.com/doc/refman/8.0/en/, .../8.4/en/):
  information-schema-table-reference.html (every INFORMATION_SCHEMA table), and per table
  information-schema-<name>-table.html (columns-table, statistics-table, tables-table,
  parameters-table,
  partitions-table, processlist-table, innodb-trx-table, innodb-metrics-table,
  innodb-tablespaces-table, innodb-tablestats-table, innodb-foreign-table,
  column-statistics-table, enabled-roles-table (8.0.19+), key-column-usage-table,
  referential-constraints-table, schema-privileges-table, table-privileges-table,
  user-privileges-table, routines-table, triggers-table, views-table, events-table);
  information-schema-innodb-tables.html ("INNODB_SYS_* tables were renamed ... in 8.0");
  performance-schema-status-variable-tables.html and performance-schema-system-variable-tables.html
  ("INFORMATION_SCHEMA GLOBAL_STATUS ... were removed in 8.0; use the Performance Schema");
  performance-schema-metadata-locks-table.html, performance-schema-threads-table.html,
  performance-schema-setup-instruments-table.html, information-schema-plugins-table.html,
  performance-schema-statement-summary-tables.html,
  performance-schema-table-io-waits-summary-by-index-usage-table.html;
  grant-tables.html (mysql.user incl. account_locked, mysql.role_edges), innodb-persistent-stats.html
  (mysql.innodb_table_stats / innodb_index_stats), data-dictionary-schema.html (mysql.proc removed);
  show-replica-status.html (8.0.22+), show-binary-log-status.html (8.2+), show-master-status.html
  (removed in 8.4: mysql-nutshell.html "Features Removed in MySQL 8.4"), server-system-variables.html
  (max_execution_time, information_schema_stats_expiry, super_read_only).
MariaDB Knowledge Base (https://mariadb.com/kb/en/):
  information-schema-tables/ and per table information-schema-<name>-table/ (columns, statistics,
  tables, parameters, partitions, processlist, innodb_trx, innodb_metrics, innodb_sys_tablespaces,
  innodb_sys_tablestats, innodb_sys_foreign, enabled_roles, applicable_roles, global_status-and-
  session_status, global_variables-and-session_variables, ...); mysql-user-table/ (a view over
  mysql.global_priv since 10.4, is_role, no account_locked column), mysql-column_stats-table/,
  mysql-roles_mapping-table/, mysql-innodb_table_stats/; show-binlog-status/ (10.5.2+),
  show-replica-status/ (10.5.1+), performance-schema-metadata_locks-table/ (10.5+),
  information-schema-metadata_lock_info-table/ (the metadata_lock_info plugin's table),
  performance-schema-setup_instruments-table/, information-schema-plugins-table/,
  server-system-variables/ (max_statement_time, histogram_size, histogram_type, gtid_binlog_pos).
Where the MariaDB 10.11 columns are listed they were also read from the real 10.11 server the
tests use (``SHOW COLUMNS``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

Tables = dict[str, dict[str, frozenset[str]]]  # schema -> table -> columns (upper case)


def _cols(text: str) -> frozenset[str]:
    return frozenset(text.upper().split())


# ---- information_schema: the same on both flavors (the columns the package reads, and more) --

_IS_COMMON = {
    "COLUMNS": _cols(
        "TABLE_CATALOG TABLE_SCHEMA TABLE_NAME COLUMN_NAME ORDINAL_POSITION COLUMN_DEFAULT "
        "IS_NULLABLE DATA_TYPE CHARACTER_MAXIMUM_LENGTH CHARACTER_OCTET_LENGTH NUMERIC_PRECISION "
        "NUMERIC_SCALE DATETIME_PRECISION CHARACTER_SET_NAME COLLATION_NAME COLUMN_TYPE COLUMN_KEY "
        "EXTRA PRIVILEGES COLUMN_COMMENT GENERATION_EXPRESSION"
    ),
    "EVENTS": _cols(
        "EVENT_CATALOG EVENT_SCHEMA EVENT_NAME DEFINER TIME_ZONE EVENT_BODY EVENT_DEFINITION "
        "EVENT_TYPE EXECUTE_AT INTERVAL_VALUE INTERVAL_FIELD SQL_MODE STARTS ENDS STATUS "
        "ON_COMPLETION CREATED LAST_ALTERED LAST_EXECUTED EVENT_COMMENT ORIGINATOR"
    ),
    "INNODB_TRX": _cols(
        "trx_id trx_state trx_started trx_requested_lock_id trx_wait_started trx_weight "
        "trx_mysql_thread_id trx_query trx_operation_state trx_tables_in_use trx_tables_locked "
        "trx_lock_structs trx_lock_memory_bytes trx_rows_locked trx_rows_modified "
        "trx_concurrency_tickets trx_isolation_level trx_unique_checks trx_foreign_key_checks "
        "trx_last_foreign_key_error trx_is_read_only trx_autocommit_non_locking"
    ),
    "KEY_COLUMN_USAGE": _cols(
        "CONSTRAINT_CATALOG CONSTRAINT_SCHEMA CONSTRAINT_NAME TABLE_CATALOG TABLE_SCHEMA "
        "TABLE_NAME COLUMN_NAME ORDINAL_POSITION POSITION_IN_UNIQUE_CONSTRAINT "
        "REFERENCED_TABLE_SCHEMA REFERENCED_TABLE_NAME REFERENCED_COLUMN_NAME"
    ),
    "PARAMETERS": _cols(
        "SPECIFIC_CATALOG SPECIFIC_SCHEMA SPECIFIC_NAME ORDINAL_POSITION PARAMETER_MODE "
        "PARAMETER_NAME DATA_TYPE CHARACTER_MAXIMUM_LENGTH CHARACTER_OCTET_LENGTH "
        "NUMERIC_PRECISION NUMERIC_SCALE DATETIME_PRECISION CHARACTER_SET_NAME COLLATION_NAME "
        "DTD_IDENTIFIER ROUTINE_TYPE"
    ),
    "PLUGINS": _cols(
        "PLUGIN_NAME PLUGIN_VERSION PLUGIN_STATUS PLUGIN_TYPE PLUGIN_TYPE_VERSION PLUGIN_LIBRARY "
        "PLUGIN_LIBRARY_VERSION PLUGIN_AUTHOR PLUGIN_DESCRIPTION PLUGIN_LICENSE LOAD_OPTION"
    ),
    "PARTITIONS": _cols(
        "TABLE_CATALOG TABLE_SCHEMA TABLE_NAME PARTITION_NAME SUBPARTITION_NAME "
        "PARTITION_ORDINAL_POSITION SUBPARTITION_ORDINAL_POSITION PARTITION_METHOD "
        "SUBPARTITION_METHOD PARTITION_EXPRESSION SUBPARTITION_EXPRESSION PARTITION_DESCRIPTION "
        "TABLE_ROWS AVG_ROW_LENGTH DATA_LENGTH MAX_DATA_LENGTH INDEX_LENGTH DATA_FREE CREATE_TIME "
        "UPDATE_TIME CHECK_TIME CHECKSUM PARTITION_COMMENT NODEGROUP TABLESPACE_NAME"
    ),
    "PROCESSLIST": _cols("ID USER HOST DB COMMAND TIME STATE INFO"),
    "REFERENTIAL_CONSTRAINTS": _cols(
        "CONSTRAINT_CATALOG CONSTRAINT_SCHEMA CONSTRAINT_NAME UNIQUE_CONSTRAINT_CATALOG "
        "UNIQUE_CONSTRAINT_SCHEMA UNIQUE_CONSTRAINT_NAME MATCH_OPTION UPDATE_RULE DELETE_RULE "
        "TABLE_NAME REFERENCED_TABLE_NAME"
    ),
    "ROUTINES": _cols(
        "SPECIFIC_NAME ROUTINE_CATALOG ROUTINE_SCHEMA ROUTINE_NAME ROUTINE_TYPE DATA_TYPE "
        "ROUTINE_BODY ROUTINE_DEFINITION EXTERNAL_NAME EXTERNAL_LANGUAGE PARAMETER_STYLE "
        "IS_DETERMINISTIC SQL_DATA_ACCESS SQL_PATH SECURITY_TYPE CREATED LAST_ALTERED SQL_MODE "
        "ROUTINE_COMMENT DEFINER"
    ),
    "SCHEMATA": _cols(
        "CATALOG_NAME SCHEMA_NAME DEFAULT_CHARACTER_SET_NAME DEFAULT_COLLATION_NAME SQL_PATH"
    ),
    "SCHEMA_PRIVILEGES": _cols("GRANTEE TABLE_CATALOG TABLE_SCHEMA PRIVILEGE_TYPE IS_GRANTABLE"),
    "STATISTICS": _cols(
        "TABLE_CATALOG TABLE_SCHEMA TABLE_NAME NON_UNIQUE INDEX_SCHEMA INDEX_NAME SEQ_IN_INDEX "
        "COLUMN_NAME COLLATION CARDINALITY SUB_PART PACKED NULLABLE INDEX_TYPE COMMENT "
        "INDEX_COMMENT"
    ),
    "TABLES": _cols(
        "TABLE_CATALOG TABLE_SCHEMA TABLE_NAME TABLE_TYPE ENGINE VERSION ROW_FORMAT TABLE_ROWS "
        "AVG_ROW_LENGTH DATA_LENGTH MAX_DATA_LENGTH INDEX_LENGTH DATA_FREE AUTO_INCREMENT "
        "CREATE_TIME UPDATE_TIME CHECK_TIME TABLE_COLLATION CHECKSUM CREATE_OPTIONS TABLE_COMMENT"
    ),
    "TABLE_PRIVILEGES": _cols(
        "GRANTEE TABLE_CATALOG TABLE_SCHEMA TABLE_NAME PRIVILEGE_TYPE IS_GRANTABLE"
    ),
    "TRIGGERS": _cols(
        "TRIGGER_CATALOG TRIGGER_SCHEMA TRIGGER_NAME EVENT_MANIPULATION EVENT_OBJECT_CATALOG "
        "EVENT_OBJECT_SCHEMA EVENT_OBJECT_TABLE ACTION_ORDER ACTION_CONDITION ACTION_STATEMENT "
        "ACTION_ORIENTATION ACTION_TIMING CREATED SQL_MODE DEFINER"
    ),
    "USER_PRIVILEGES": _cols("GRANTEE TABLE_CATALOG PRIVILEGE_TYPE IS_GRANTABLE"),
    "VIEWS": _cols(
        "TABLE_CATALOG TABLE_SCHEMA TABLE_NAME VIEW_DEFINITION CHECK_OPTION IS_UPDATABLE DEFINER "
        "SECURITY_TYPE CHARACTER_SET_CLIENT COLLATION_CONNECTION"
    ),
}
_INNODB_METRICS = (
    "NAME SUBSYSTEM COUNT MAX_COUNT MIN_COUNT AVG_COUNT COUNT_RESET MAX_COUNT_RESET "
    "MIN_COUNT_RESET AVG_COUNT_RESET TIME_ENABLED TIME_DISABLED TIME_ELAPSED TIME_RESET TYPE COMMENT"
)
_TABLESTATS = (
    "TABLE_ID NAME STATS_INITIALIZED NUM_ROWS CLUST_INDEX_SIZE OTHER_INDEX_SIZE MODIFIED_COUNTER "
    "AUTOINC REF_COUNT"
)
_FOREIGN = "ID FOR_NAME REF_NAME N_COLS TYPE"

_IS_MYSQL8 = {
    **_IS_COMMON,
    "INNODB_METRICS": _cols(_INNODB_METRICS + " STATUS"),
    "INNODB_TABLESPACES": _cols(
        "SPACE NAME FLAG ROW_FORMAT PAGE_SIZE ZIP_PAGE_SIZE SPACE_TYPE FS_BLOCK_SIZE FILE_SIZE "
        "ALLOCATED_SIZE AUTOEXTEND_SIZE SERVER_VERSION SPACE_VERSION ENCRYPTION STATE"
    ),
    "INNODB_TABLESTATS": _cols(_TABLESTATS),
    "INNODB_FOREIGN": _cols(_FOREIGN),
    "COLUMN_STATISTICS": _cols("SCHEMA_NAME TABLE_NAME COLUMN_NAME HISTOGRAM"),
    "ENABLED_ROLES": _cols("ROLE_NAME ROLE_HOST IS_DEFAULT IS_MANDATORY"),
    "APPLICABLE_ROLES": _cols(
        "USER HOST GRANTEE GRANTEE_HOST ROLE_NAME ROLE_HOST IS_GRANTABLE IS_DEFAULT IS_MANDATORY"
    ),
}
_IS_MARIADB = {
    **_IS_COMMON,
    "GLOBAL_STATUS": _cols("VARIABLE_NAME VARIABLE_VALUE"),
    "GLOBAL_VARIABLES": _cols("VARIABLE_NAME VARIABLE_VALUE"),
    "INNODB_METRICS": _cols(_INNODB_METRICS + " ENABLED"),
    "INNODB_SYS_TABLESPACES": _cols(
        "SPACE NAME FLAG ROW_FORMAT PAGE_SIZE FILENAME FS_BLOCK_SIZE FILE_SIZE ALLOCATED_SIZE"
    ),
    "INNODB_SYS_TABLESTATS": _cols(_TABLESTATS),
    "INNODB_SYS_FOREIGN": _cols(_FOREIGN),
    "ENABLED_ROLES": _cols("ROLE_NAME"),
    "APPLICABLE_ROLES": _cols("GRANTEE ROLE_NAME IS_GRANTABLE IS_DEFAULT"),
    # The metadata_lock_info plugin's table (present once the plugin is installed).
    "METADATA_LOCK_INFO": _cols(
        "THREAD_ID LOCK_MODE LOCK_DURATION LOCK_TYPE TABLE_SCHEMA TABLE_NAME"
    ),
}

# ---- performance_schema (MariaDB 10.5+ has the MySQL 5.7 tables the package reads) ----------

_PS = {
    "events_statements_summary_by_digest": _cols(
        "SCHEMA_NAME DIGEST DIGEST_TEXT COUNT_STAR SUM_TIMER_WAIT MIN_TIMER_WAIT AVG_TIMER_WAIT "
        "MAX_TIMER_WAIT SUM_LOCK_TIME SUM_ERRORS SUM_WARNINGS SUM_ROWS_AFFECTED SUM_ROWS_SENT "
        "SUM_ROWS_EXAMINED SUM_CREATED_TMP_DISK_TABLES SUM_CREATED_TMP_TABLES SUM_SELECT_FULL_JOIN "
        "SUM_SELECT_FULL_RANGE_JOIN SUM_SELECT_RANGE SUM_SELECT_RANGE_CHECK SUM_SELECT_SCAN "
        "SUM_SORT_MERGE_PASSES SUM_SORT_RANGE SUM_SORT_ROWS SUM_SORT_SCAN SUM_NO_INDEX_USED "
        "SUM_NO_GOOD_INDEX_USED FIRST_SEEN LAST_SEEN"
    ),
    "table_io_waits_summary_by_index_usage": _cols(
        "OBJECT_TYPE OBJECT_SCHEMA OBJECT_NAME INDEX_NAME COUNT_STAR SUM_TIMER_WAIT COUNT_READ "
        "SUM_TIMER_READ COUNT_WRITE SUM_TIMER_WRITE COUNT_FETCH SUM_TIMER_FETCH COUNT_INSERT "
        "COUNT_UPDATE COUNT_DELETE"
    ),
    "metadata_locks": _cols(
        "OBJECT_TYPE OBJECT_SCHEMA OBJECT_NAME OBJECT_INSTANCE_BEGIN LOCK_TYPE LOCK_DURATION "
        "LOCK_STATUS SOURCE OWNER_THREAD_ID OWNER_EVENT_ID"
    ),
    "setup_instruments": _cols("NAME ENABLED TIMED"),
    "threads": _cols(
        "THREAD_ID NAME TYPE PROCESSLIST_ID PROCESSLIST_USER PROCESSLIST_HOST PROCESSLIST_DB "
        "PROCESSLIST_COMMAND PROCESSLIST_TIME PROCESSLIST_STATE PROCESSLIST_INFO PARENT_THREAD_ID "
        "ROLE INSTRUMENTED HISTORY CONNECTION_TYPE THREAD_OS_ID"
    ),
}
_PS_MYSQL = {
    **_PS,
    "global_status": _cols("VARIABLE_NAME VARIABLE_VALUE"),
    "global_variables": _cols("VARIABLE_NAME VARIABLE_VALUE"),
}

# ---- mysql.* ----------------------------------------------------------------------------------

_PRIVS = (
    "Select_priv Insert_priv Update_priv Delete_priv Create_priv Drop_priv Reload_priv "
    "Shutdown_priv Process_priv File_priv Grant_priv References_priv Index_priv Alter_priv "
    "Show_db_priv Super_priv Create_tmp_table_priv Lock_tables_priv Execute_priv Repl_slave_priv "
    "Repl_client_priv Create_view_priv Show_view_priv Create_routine_priv Alter_routine_priv "
    "Create_user_priv Event_priv Trigger_priv Create_tablespace_priv ssl_type ssl_cipher "
    "x509_issuer x509_subject max_questions max_updates max_connections max_user_connections "
    "plugin authentication_string password_expired Host User"
)
_STATS = {
    "innodb_table_stats": _cols(
        "database_name table_name last_update n_rows clustered_index_size sum_of_other_index_sizes"
    ),
    "innodb_index_stats": _cols(
        "database_name table_name index_name last_update stat_name stat_value sample_size "
        "stat_description"
    ),
}
_MYSQL_MYSQL8 = {
    **_STATS,
    "user": _cols(
        _PRIVS + " password_last_changed password_lifetime account_locked Create_role_priv "
        "Drop_role_priv Password_reuse_history Password_reuse_time Password_require_current "
        "User_attributes"
    ),
    "role_edges": _cols("FROM_HOST FROM_USER TO_HOST TO_USER WITH_ADMIN_OPTION"),
    "default_roles": _cols("HOST USER DEFAULT_ROLE_HOST DEFAULT_ROLE_USER"),
}
_MYSQL_MARIADB = {
    **_STATS,
    "user": _cols(_PRIVS + " Password Delete_history_priv is_role default_role max_statement_time"),
    "roles_mapping": _cols("Host User Role Admin_option"),
    "column_stats": _cols(
        "db_name table_name column_name min_value max_value nulls_ratio avg_length avg_frequency "
        "hist_size hist_type histogram"
    ),
    "proc": _cols("db name type specific_name language sql_data_access definer body"),
}

# ---- variables and statements ----------------------------------------------------------------

_VARS_COMMON = frozenset(
    "lock_wait_timeout innodb_lock_wait_timeout read_only innodb_stats_persistent datadir "
    "hostname max_connections performance_schema log_bin log_bin_basename binlog_format "
    "binlog_expire_logs_seconds expire_logs_days server_id version version_comment "
    "port server_uuid".split()
)
_VARS_MYSQL8 = _VARS_COMMON | {
    "max_execution_time",
    "information_schema_stats_expiry",
    "super_read_only",
    "gtid_executed",
    "gtid_mode",
}
_VARS_MARIADB = (_VARS_COMMON - {"server_uuid"}) | {
    "max_statement_time",
    "histogram_size",
    "histogram_type",
    "gtid_binlog_pos",
    "gtid_slave_pos",
    "gtid_current_pos",
}
_STATUS_COMMON = frozenset(
    "Threads_connected Threads_running Max_used_connections Aborted_connects "
    "Innodb_buffer_pool_reads Innodb_buffer_pool_read_requests Uptime Slow_queries Questions".split()
)

# Statement forms by their leading words (SHOW ..., START ..., a keyword for the rest).
_STATEMENTS_COMMON = frozenset(
    {
        "SELECT", "WITH", "INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "ALTER", "DROP",
        "ANALYZE TABLE", "CHECK TABLE", "OPTIMIZE TABLE", "KILL QUERY", "SET", "DO",
        "SHOW GLOBAL STATUS", "SHOW GLOBAL VARIABLES", "SHOW SESSION VARIABLES",
        "SHOW ENGINE INNODB STATUS", "SHOW BINARY LOGS", "SHOW GRANTS", "SHOW CREATE TABLE",
        "SHOW REPLICA STATUS", "STOP REPLICA", "START REPLICA", "RESET REPLICA",
    }
)  # fmt: skip
_SLAVE_NAMES = frozenset(
    {"SHOW SLAVE STATUS", "STOP SLAVE", "START SLAVE", "RESET SLAVE", "SHOW MASTER STATUS"}
)


@dataclass(frozen=True)
class Catalog:
    """One flavor and version line: its system tables, variables and statements."""

    name: str
    tables: Tables
    variables: frozenset[str]
    status: frozenset[str]
    statements: frozenset[str]
    removed: dict[str, str] = field(default_factory=dict)  # "schema.table" -> why

    def columns(self, schema: str, table: str) -> frozenset[str] | None:
        """The table's columns (upper case), or None when this server has no such table."""
        tables = self.tables.get(schema.lower(), {})
        for name, cols in tables.items():
            if name.lower() == table.lower():
                return cols
        return None


_MYSQL_REMOVED = {
    "information_schema.GLOBAL_STATUS": "removed in MySQL 8.0: performance_schema.global_status",
    "information_schema.GLOBAL_VARIABLES": (
        "removed in MySQL 8.0: performance_schema.global_variables"
    ),
    "information_schema.SESSION_STATUS": "removed in MySQL 8.0",
    "information_schema.SESSION_VARIABLES": "removed in MySQL 8.0",
    "information_schema.INNODB_SYS_TABLESPACES": "renamed INNODB_TABLESPACES in MySQL 8.0",
    "information_schema.INNODB_SYS_TABLESTATS": "renamed INNODB_TABLESTATS in MySQL 8.0",
    "information_schema.INNODB_SYS_FOREIGN": "renamed INNODB_FOREIGN in MySQL 8.0",
    "information_schema.INNODB_SYS_TABLES": "renamed INNODB_TABLES in MySQL 8.0",
    "information_schema.INNODB_LOCKS": "removed in MySQL 8.0: performance_schema.data_locks",
    "mysql.proc": "removed in MySQL 8.0 (data dictionary): information_schema.ROUTINES",
    "mysql.column_stats": "MariaDB only: MySQL keeps histograms in COLUMN_STATISTICS",
}
_MARIADB_REMOVED = {
    "information_schema.INNODB_TABLESPACES": "MySQL 8.0's name: INNODB_SYS_TABLESPACES",
    "information_schema.INNODB_TABLESTATS": "MySQL 8.0's name: INNODB_SYS_TABLESTATS",
    "information_schema.INNODB_FOREIGN": "MySQL 8.0's name: INNODB_SYS_FOREIGN",
    "information_schema.COLUMN_STATISTICS": "MySQL only: mysql.column_stats",
    "mysql.role_edges": "MySQL only: mysql.roles_mapping",
}


def _mysql(name: str, statements: frozenset[str]) -> Catalog:
    return Catalog(
        name,
        {
            "information_schema": _IS_MYSQL8,
            "performance_schema": _PS_MYSQL,
            "mysql": _MYSQL_MYSQL8,
        },
        _VARS_MYSQL8,
        _STATUS_COMMON,
        statements,
        _MYSQL_REMOVED,
    )


def _mariadb(name: str) -> Catalog:
    return Catalog(
        name,
        {"information_schema": _IS_MARIADB, "performance_schema": _PS, "mysql": _MYSQL_MARIADB},
        _VARS_MARIADB,
        _STATUS_COMMON | {"Innodb_deadlocks"},
        _STATEMENTS_COMMON | _SLAVE_NAMES | {"SHOW BINLOG STATUS"},
        _MARIADB_REMOVED,
    )


# MySQL 8.4 removed the SLAVE/MASTER statement names (8.2 added SHOW BINARY LOG STATUS).
CATALOGS = {
    "mysql-8.0": _mysql("mysql-8.0", _STATEMENTS_COMMON | _SLAVE_NAMES),
    "mysql-8.4": _mysql("mysql-8.4", _STATEMENTS_COMMON | {"SHOW BINARY LOG STATUS"}),
    "mariadb-10.6": _mariadb("mariadb-10.6"),
    "mariadb-10.11": _mariadb("mariadb-10.11"),
    "mariadb-11.x": _mariadb("mariadb-11.x"),
}

# The versions each catalog is checked at (real VERSION() strings): 8.0 before and after the
# ANALYZE fix (8.0.24) and the REPLICA names (8.0.22).
VERSIONS = {
    "mysql-8.0": ("8.0.21", "8.0.23", "8.0.40"),
    "mysql-8.4": ("8.4.3",),
    "mariadb-10.6": ("10.6.21-MariaDB-ubu2004",),
    "mariadb-10.11": ("10.11.19-MariaDB-0+deb12u1",),
    "mariadb-11.x": ("11.4.8-MariaDB-ubu2404-log", "11.8.3-MariaDB"),
}
