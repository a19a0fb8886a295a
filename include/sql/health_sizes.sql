-- Size per schema (data + indexes), user schemas only.
SELECT TABLE_SCHEMA AS schema_name, SUM(DATA_LENGTH + INDEX_LENGTH) AS bytes,
       SUM(DATA_FREE) AS free_bytes, COUNT(*) AS tables
  FROM information_schema.TABLES
 WHERE TABLE_SCHEMA NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')
 GROUP BY TABLE_SCHEMA
