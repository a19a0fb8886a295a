-- MySQL before 8.0.24 only: sessions using one table (holding a metadata lock on it) for longer
-- than a limit, by their open transaction or their running statement. ANALYZE TABLE flushes the
-- table there and waits for them while every new query on the table queues behind it.
-- performance_schema.metadata_locks (instrument wait/lock/metadata/sql/mdl, on by default in
-- 8.0): https://dev.mysql.com/doc/refman/8.0/en/performance-schema-metadata-locks-table.html
-- Bound: the schema, the table, the age limit in seconds.
SELECT th.PROCESSLIST_ID AS thread_id,
       GREATEST(COALESCE(TIMESTAMPDIFF(SECOND, trx.trx_started, NOW()), 0),
                COALESCE(th.PROCESSLIST_TIME, 0)) AS age_s,
       th.PROCESSLIST_USER AS user_name
  FROM performance_schema.metadata_locks AS ml
  JOIN performance_schema.threads AS th ON th.THREAD_ID = ml.OWNER_THREAD_ID
  LEFT JOIN information_schema.INNODB_TRX AS trx ON trx.trx_mysql_thread_id = th.PROCESSLIST_ID
 WHERE ml.OBJECT_TYPE = 'TABLE'
   AND ml.OBJECT_SCHEMA = %s
   AND ml.OBJECT_NAME = %s
   AND th.PROCESSLIST_ID <> CONNECTION_ID()
 HAVING age_s >= %s
 ORDER BY age_s DESC
