-- Sessions waiting for a metadata lock that may concern the table: in its schema, or naming
-- the schema and then the table. A DDL now would join their queue. (Waiters on other schemas'
-- tables are not ours to wait for: metadata locks are per object.) Bound: the schema, then a
-- LIKE pattern of the schema's name followed by the table's.
SELECT ID AS thread_id, DB AS db, TIME AS wait_s, STATE AS state
  FROM information_schema.PROCESSLIST
 WHERE STATE LIKE 'Waiting for%%metadata lock'
   AND ID <> CONNECTION_ID()
   AND (DB = %s OR INFO LIKE %s)
