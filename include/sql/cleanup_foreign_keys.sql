-- The foreign keys referencing one table, one row per column, with their ON DELETE action:
-- a cleanup reads them (and, through CASCADE keys, its children's) before its first write.
-- Bound parameters: the referenced table's schema and name.
SELECT k.TABLE_SCHEMA            AS child_schema,
       k.TABLE_NAME              AS child_table,
       k.CONSTRAINT_NAME         AS constraint_name,
       k.COLUMN_NAME             AS child_column,
       k.ORDINAL_POSITION        AS position,
       k.REFERENCED_TABLE_SCHEMA AS parent_schema,
       k.REFERENCED_TABLE_NAME   AS parent_table,
       k.REFERENCED_COLUMN_NAME  AS parent_column,
       r.DELETE_RULE             AS on_delete
FROM information_schema.KEY_COLUMN_USAGE AS k
JOIN information_schema.REFERENTIAL_CONSTRAINTS AS r
  ON r.CONSTRAINT_SCHEMA = k.CONSTRAINT_SCHEMA
 AND r.CONSTRAINT_NAME = k.CONSTRAINT_NAME
 AND r.TABLE_NAME = k.TABLE_NAME
WHERE k.REFERENCED_TABLE_SCHEMA = %s AND k.REFERENCED_TABLE_NAME = %s
ORDER BY k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION
