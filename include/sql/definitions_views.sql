-- Views of the given schemas, with what makes up their definition (not DEFINER or the client
-- character set, which a restore may change).
SELECT TABLE_SCHEMA AS schema_name, TABLE_NAME AS name, VIEW_DEFINITION, CHECK_OPTION,
       SECURITY_TYPE
  FROM information_schema.VIEWS
 WHERE TABLE_SCHEMA IN %(schemas)s
