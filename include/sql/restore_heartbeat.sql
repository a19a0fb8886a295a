-- The heartbeat row written just before the backup's snapshot.
SELECT COUNT(*) AS found FROM {schema}.{table} WHERE id = %(id)s
