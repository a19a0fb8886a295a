-- Sessions holding (or awaiting) a metadata lock on one table, from
-- performance_schema.metadata_locks (MySQL 5.7+, MariaDB 10.5.2+; instrument
-- wait/lock/metadata/sql/mdl, on by default in MySQL 8.0):
-- https://dev.mysql.com/doc/refman/8.0/en/performance-schema-metadata-locks-table.html
-- An ALTER needs an exclusive lock on the table (and ANALYZE TABLE before MySQL 8.0.24 flushes
-- it): it would wait for every one of them while new queries on the table queue behind it.
-- age_s: the open transaction's age, else the time in the current command (Sleep: idle, so
-- holding the lock in an open transaction).
-- Background threads (no PROCESSLIST_ID) hold locks for moments only: left out.
-- Bound: the schema, the table.
SELECT th.PROCESSLIST_ID AS thread_id,
       th.PROCESSLIST_USER AS user_name,
       th.PROCESSLIST_COMMAND AS command,
       GREATEST(COALESCE(TIMESTAMPDIFF(SECOND, trx.trx_started, NOW()), 0),
                COALESCE(th.PROCESSLIST_TIME, 0)) AS age_s,
       ml.LOCK_STATUS AS lock_status
  FROM performance_schema.metadata_locks AS ml
  JOIN performance_schema.threads AS th ON th.THREAD_ID = ml.OWNER_THREAD_ID
  LEFT JOIN information_schema.INNODB_TRX AS trx ON trx.trx_mysql_thread_id = th.PROCESSLIST_ID
 WHERE ml.OBJECT_TYPE = 'TABLE'
   AND ml.OBJECT_SCHEMA = %s
   AND ml.OBJECT_NAME = %s
   AND th.PROCESSLIST_ID <> CONNECTION_ID()
 ORDER BY age_s DESC
