-- Events of the given schemas, with what makes up their definition (not DEFINER, ORIGINATOR,
-- CREATED, LAST_ALTERED, LAST_EXECUTED, the client character set, or TIME_ZONE, which
-- mydumper restores as +00:00).
SELECT EVENT_SCHEMA AS schema_name, EVENT_NAME AS name, EVENT_DEFINITION, EVENT_TYPE,
       EXECUTE_AT, INTERVAL_VALUE, INTERVAL_FIELD, STARTS, ENDS, STATUS, ON_COMPLETION,
       SQL_MODE, EVENT_COMMENT
  FROM information_schema.EVENTS
 WHERE EVENT_SCHEMA IN %(schemas)s
