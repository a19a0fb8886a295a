-- Every restored object of the given schemas, named as the backup manifest names them.
SELECT 'tables' AS kind, CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) AS name
  FROM information_schema.TABLES
 WHERE TABLE_SCHEMA IN %(schemas)s AND TABLE_TYPE = 'BASE TABLE'
UNION ALL
SELECT 'views', CONCAT(TABLE_SCHEMA, '.', TABLE_NAME)
  FROM information_schema.VIEWS
 WHERE TABLE_SCHEMA IN %(schemas)s
UNION ALL
SELECT 'routines', CONCAT(ROUTINE_SCHEMA, '.', ROUTINE_NAME, ' (', ROUTINE_TYPE, ')')
  FROM information_schema.ROUTINES
 WHERE ROUTINE_SCHEMA IN %(schemas)s
UNION ALL
SELECT 'triggers', CONCAT(TRIGGER_SCHEMA, '.', TRIGGER_NAME)
  FROM information_schema.TRIGGERS
 WHERE TRIGGER_SCHEMA IN %(schemas)s
UNION ALL
SELECT 'events', CONCAT(EVENT_SCHEMA, '.', EVENT_NAME)
  FROM information_schema.EVENTS
 WHERE EVENT_SCHEMA IN %(schemas)s
