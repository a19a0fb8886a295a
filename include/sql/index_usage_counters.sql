-- Reads through each index since the server started (or since the table was truncated),
-- from performance_schema. Bound parameter: a tuple of schema names.
SELECT OBJECT_SCHEMA AS schema_name, OBJECT_NAME AS table_name, INDEX_NAME AS index_name,
       COUNT_READ AS read_count
  FROM performance_schema.table_io_waits_summary_by_index_usage
 WHERE OBJECT_SCHEMA IN %(schemas)s
   AND INDEX_NAME IS NOT NULL
