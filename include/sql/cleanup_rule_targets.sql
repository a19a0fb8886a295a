-- Where each cleanup rule's table and date column live among the maintained schemas.
-- Bound parameters: schemas (a tuple) and tables (a tuple).
SELECT c.TABLE_SCHEMA AS schema_name, c.TABLE_NAME AS table_name, c.COLUMN_NAME AS column_name
  FROM information_schema.COLUMNS c
 WHERE c.TABLE_SCHEMA IN %(schemas)s
   AND c.TABLE_NAME IN %(tables)s
