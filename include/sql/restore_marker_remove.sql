-- Forget a schema once it has been dropped.
DELETE FROM {marker_schema}.{marker_table} WHERE schema_name = %(schema)s
