-- Base tables of one schema, with engine and estimated row count (for missing primary keys
-- and index selectivity). Bound parameter: the schema name.
SELECT TABLE_SCHEMA AS schema_name, TABLE_NAME AS table_name, ENGINE AS engine,
       TABLE_ROWS AS table_rows
  FROM information_schema.TABLES
 WHERE TABLE_SCHEMA = %s
   AND TABLE_TYPE = 'BASE TABLE'
