-- Statements running now, longest first (not sleeping connections, not this session).
SELECT ID AS id, USER AS user, DB AS db, TIME AS seconds, LEFT(INFO, 200) AS query
  FROM information_schema.PROCESSLIST
 WHERE COMMAND NOT IN ('Sleep', 'Daemon', 'Binlog Dump', 'Slave_IO', 'Slave_SQL',
                       'Slave_worker')
   AND ID <> CONNECTION_ID()
   AND INFO IS NOT NULL
 ORDER BY TIME DESC
 LIMIT 5
