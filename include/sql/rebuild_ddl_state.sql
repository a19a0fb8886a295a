-- What one of our connections is doing: its state says when a DDL waits for a metadata lock
-- ("Waiting for table metadata lock"), while every new query on the table queues behind it.
-- Bound: the connection id.
SELECT STATE AS state
  FROM information_schema.PROCESSLIST
 WHERE ID = %s
