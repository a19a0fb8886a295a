-- Every object a backup of these schemas holds, one row each: kind, schema, name, detail.
SELECT 'table' AS kind, TABLE_SCHEMA AS schema_name, TABLE_NAME AS name, ENGINE AS detail
  FROM information_schema.TABLES
 WHERE TABLE_SCHEMA IN %(schemas)s AND TABLE_TYPE = 'BASE TABLE'
UNION ALL
SELECT 'view', TABLE_SCHEMA, TABLE_NAME, NULL
  FROM information_schema.VIEWS
 WHERE TABLE_SCHEMA IN %(schemas)s
UNION ALL
SELECT 'routine', ROUTINE_SCHEMA, ROUTINE_NAME, ROUTINE_TYPE
  FROM information_schema.ROUTINES
 WHERE ROUTINE_SCHEMA IN %(schemas)s
UNION ALL
SELECT 'trigger', TRIGGER_SCHEMA, TRIGGER_NAME, NULL
  FROM information_schema.TRIGGERS
 WHERE TRIGGER_SCHEMA IN %(schemas)s
UNION ALL
SELECT 'event', EVENT_SCHEMA, EVENT_NAME, NULL
  FROM information_schema.EVENTS
 WHERE EVENT_SCHEMA IN %(schemas)s
ORDER BY 1, 2, 3
