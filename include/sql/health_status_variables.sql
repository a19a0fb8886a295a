-- The global status counters and variables one health sample needs. SHOW GLOBAL STATUS and
-- SHOW GLOBAL VARIABLES answer the same on MySQL 5.7/8.x and MariaDB (information_schema's
-- GLOBAL_STATUS/GLOBAL_VARIABLES were removed in MySQL 8.0: ERROR 1109 there). The deadlock
-- count is the dialect's deadlocks_sql (Innodb_deadlocks exists on MariaDB only).
SHOW GLOBAL STATUS
 WHERE Variable_name IN ('Threads_connected', 'Threads_running', 'Max_used_connections',
                         'Aborted_connects', 'Innodb_buffer_pool_reads',
                         'Innodb_buffer_pool_read_requests', 'Uptime',
                         'Slow_queries', 'Questions');
SHOW GLOBAL VARIABLES
 WHERE Variable_name IN ('max_connections', 'performance_schema', 'datadir', 'hostname',
                         'read_only');
