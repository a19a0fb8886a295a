-- The heartbeat's time is the server's UTC clock, the same clock the restore compares with.
INSERT INTO {schema}.`backup_heartbeat` (taken_at, database_name)
VALUES (UTC_TIMESTAMP(6), %(database_name)s)
