-- Schemas a previous restore test created on this scratch target.
SELECT schema_name FROM {marker_schema}.{marker_table} ORDER BY schema_name
