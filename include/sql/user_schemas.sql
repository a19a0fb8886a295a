-- Every schema that holds user data (not the server's own, not the history schema).
SELECT SCHEMA_NAME AS schema_name
  FROM information_schema.SCHEMATA
 WHERE SCHEMA_NAME NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')
   AND SCHEMA_NAME <> %(history_schema)s
 ORDER BY SCHEMA_NAME
