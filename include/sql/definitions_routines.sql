-- Stored procedures and functions of the given schemas, with what makes up their definition.
-- Not compared (they legitimately differ after a restore): DEFINER, CREATED, LAST_ALTERED and
-- the client character set of the session that created them. Parameters: definitions_parameters.
SELECT ROUTINE_SCHEMA AS schema_name, ROUTINE_NAME AS name, ROUTINE_TYPE AS routine_type,
       DTD_IDENTIFIER, ROUTINE_BODY, ROUTINE_DEFINITION, IS_DETERMINISTIC, SQL_DATA_ACCESS,
       SECURITY_TYPE, SQL_MODE, ROUTINE_COMMENT
  FROM information_schema.ROUTINES
 WHERE ROUTINE_SCHEMA IN %(schemas)s
