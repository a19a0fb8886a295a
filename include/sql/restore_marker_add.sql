-- Record a schema before restoring it, so a killed run's leftovers are known as ours.
REPLACE INTO {marker_schema}.{marker_table} (schema_name, restored_at) VALUES (%(schema)s, UTC_TIMESTAMP())
