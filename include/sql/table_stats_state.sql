-- InnoDB base tables of one schema with their live row estimate (TABLE_ROWS follows every
-- insert and delete in memory). Bound parameter: the schema name.
SELECT TABLE_SCHEMA AS schema_name, TABLE_NAME AS table_name, ENGINE AS engine,
       TABLE_ROWS AS table_rows, UPDATE_TIME AS update_time, CREATE_OPTIONS AS create_options
  FROM information_schema.TABLES
 WHERE TABLE_SCHEMA = %s
   AND TABLE_TYPE = 'BASE TABLE'
