-- Triggers of the given schemas, with what makes up their definition (not DEFINER, CREATED or
-- the client character set, which a restore may change).
SELECT TRIGGER_SCHEMA AS schema_name, TRIGGER_NAME AS name, EVENT_OBJECT_TABLE, ACTION_TIMING,
       EVENT_MANIPULATION, ACTION_ORDER, ACTION_STATEMENT, SQL_MODE
  FROM information_schema.TRIGGERS
 WHERE TRIGGER_SCHEMA IN %(schemas)s
