-- Other transactions holding uncommitted changes: one could commit between two snapshots.
SELECT COUNT(*) AS writers
  FROM information_schema.INNODB_TRX
 WHERE trx_mysql_thread_id <> CONNECTION_ID()
   AND (trx_rows_modified > 0 OR trx_rows_locked > 0)
