-- The maintenance account, with exactly the privileges the DAGs need, and no more.
-- Run as an administrator after replacing the password, the host and `app` (one GRANT per
-- maintained schema; the DAGs refuse to start and name any privilege that is missing):
--     mariadb -u root -p < include/sql/grants.sql
--
-- Who needs what (per maintained schema unless ON *.*):
--   mysql_daily_maintenance         SELECT, INSERT, DELETE, CREATE, ALTER, DROP; PROCESS
--                                   (ANALYZE needs SELECT+INSERT; archive tables need CREATE;
--                                    dropping expired partitions needs ALTER+DROP)
--   mysql_weekly_optimization       SELECT, INSERT, ALTER; PROCESS (online rebuilds, MDL guard)
--   mysql_monthly_deep_maintenance  SELECT, INSERT, ALTER; PROCESS (rebuilds, CHECK, histograms)
--   mysql_backup_testing            SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES;
--                                   RELOAD, PROCESS, REPLICATION CLIENT (consistent dumps, binlog position)
--   mysql_disaster_recovery_test    SELECT; PROCESS, REPLICATION CLIENT, REPLICATION SLAVE
--                                   (the PITR drill reads binlogs as a replica would)
--   mysql_health_check              SELECT; PROCESS, REPLICATION CLIENT
--   every DAG, on the history schema (default _maintenance): SELECT, INSERT, UPDATE, DELETE, CREATE
--   daily and health check: SELECT on mysql.innodb_table_stats, mysql.innodb_index_stats,
--                           mysql.user and performance_schema (below)
-- On MariaDB 10.5+ REPLICATION CLIENT is shown as BINLOG MONITOR / SLAVE MONITOR: same thing.

CREATE USER IF NOT EXISTS 'maintenance'@'%' IDENTIFIED BY 'change-me';

GRANT PROCESS, RELOAD, REPLICATION CLIENT, REPLICATION SLAVE ON *.* TO 'maintenance'@'%';

GRANT SELECT, INSERT, DELETE, CREATE, ALTER, DROP, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES
   ON `app`.* TO 'maintenance'@'%';

GRANT SELECT, INSERT, UPDATE, DELETE, CREATE ON `_maintenance`.* TO 'maintenance'@'%';

-- Catalog reads: persistent statistics (stale-statistics selection, index sizes), index usage
-- and statement digests (performance_schema), and the account list for the security audit.
GRANT SELECT ON `mysql`.`innodb_table_stats` TO 'maintenance'@'%';
GRANT SELECT ON `mysql`.`innodb_index_stats` TO 'maintenance'@'%';
GRANT SELECT ON `mysql`.`user` TO 'maintenance'@'%';
GRANT SELECT ON `performance_schema`.* TO 'maintenance'@'%';
