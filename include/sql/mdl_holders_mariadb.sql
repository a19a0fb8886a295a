-- Sessions holding a metadata lock on one table, from MariaDB's metadata_lock_info plugin
-- (information_schema.METADATA_LOCK_INFO; granted locks only, THREAD_ID is the connection id):
-- https://mariadb.com/kb/en/information-schema-metadata_lock_info-table/
-- An ALTER needs an exclusive lock on the table: it cannot get it while any of them holds one.
-- age_s: the open transaction's age, else the time in the current command (Sleep: idle, so
-- holding the lock in an open transaction). Internal threads (no process list row) hold locks
-- for moments only: left out. Bound: the schema, the table.
SELECT ml.THREAD_ID AS thread_id,
       p.USER AS user_name,
       p.COMMAND AS command,
       GREATEST(COALESCE(TIMESTAMPDIFF(SECOND, trx.trx_started, NOW()), 0),
                COALESCE(p.TIME, 0)) AS age_s,
       'GRANTED' AS lock_status
  FROM information_schema.METADATA_LOCK_INFO AS ml
  JOIN information_schema.PROCESSLIST AS p ON p.ID = ml.THREAD_ID
  LEFT JOIN information_schema.INNODB_TRX AS trx ON trx.trx_mysql_thread_id = ml.THREAD_ID
 WHERE ml.LOCK_TYPE = 'Table metadata lock'
   AND ml.TABLE_SCHEMA = %s
   AND ml.TABLE_NAME = %s
   AND ml.THREAD_ID <> CONNECTION_ID()
 ORDER BY age_s DESC
