-- Parameters of the stored routines of the given schemas, in order (a function's return is 0).
SELECT SPECIFIC_SCHEMA AS schema_name, SPECIFIC_NAME AS name, ROUTINE_TYPE AS routine_type,
       ORDINAL_POSITION, PARAMETER_MODE, PARAMETER_NAME, DTD_IDENTIFIER
  FROM information_schema.PARAMETERS
 WHERE SPECIFIC_SCHEMA IN %(schemas)s
 ORDER BY SPECIFIC_SCHEMA, SPECIFIC_NAME, ROUTINE_TYPE, ORDINAL_POSITION
