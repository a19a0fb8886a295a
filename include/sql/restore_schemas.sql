-- Every schema on a restore target that is not the server's own.
SELECT SCHEMA_NAME AS schema_name
  FROM information_schema.SCHEMATA
 WHERE SCHEMA_NAME NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')
 ORDER BY SCHEMA_NAME
