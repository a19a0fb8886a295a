-- Base tables of the given schemas in the stable order CHECK TABLE walks them.
SELECT TABLE_SCHEMA AS schema_name, TABLE_NAME AS table_name, ENGINE AS engine
  FROM information_schema.TABLES
 WHERE TABLE_SCHEMA IN %(schemas)s
   AND TABLE_TYPE = 'BASE TABLE'
 ORDER BY TABLE_SCHEMA, TABLE_NAME
