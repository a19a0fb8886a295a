-- Accumulated index usage of a list of schemas. Bound parameter: a tuple of schema names.
SELECT `schema_name`, `table_name`, `index_name`, `first_seen`, `last_seen`, `server_boot`,
       `last_reads`, `total_reads`, `last_used`
  FROM {history_schema}.`index_usage`
 WHERE `schema_name` IN %(schemas)s
