SELECT id, taken_at FROM {schema}.`backup_heartbeat` WHERE id = LAST_INSERT_ID()
