-- Past successful rebuilds of one database's tables, newest first, from the audit log:
-- their durations predict the next ones and their dates say which tables are due.
-- Bound: the database's name in configuration, and a row limit.
SELECT object_name,
       TIMESTAMPDIFF(MICROSECOND, started_at, ended_at) / 1000000 AS duration_s,
       ended_at
  FROM {history_schema}.`maintenance_log`
 WHERE database_name = %s
   AND command LIKE 'ALTER TABLE %% FORCE%%'
   AND outcome = 'ok'
   AND ended_at IS NOT NULL
 ORDER BY id DESC
 LIMIT %s
