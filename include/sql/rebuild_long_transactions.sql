-- Open transactions older than a limit, anywhere on the server: any of them may hold a
-- metadata lock on the table, and an ALTER waiting for it would queue every query behind it.
-- Bound: the age limit in seconds.
SELECT trx.trx_mysql_thread_id AS thread_id,
       TIMESTAMPDIFF(SECOND, trx.trx_started, NOW()) AS age_s,
       trx.trx_state AS state,
       p.USER AS user_name,
       p.DB AS db
  FROM information_schema.INNODB_TRX AS trx
  LEFT JOIN information_schema.PROCESSLIST AS p ON p.ID = trx.trx_mysql_thread_id
 WHERE trx.trx_started <= NOW() - INTERVAL %s SECOND
   AND trx.trx_mysql_thread_id <> CONNECTION_ID()
 ORDER BY trx.trx_started
