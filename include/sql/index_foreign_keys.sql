-- Every foreign key that touches a list of schemas, on either side, one row per column: a
-- child table in them (its index on the foreign-key columns must stay) or a parent table in
-- them (its index on the referenced columns must stay), so that no suggested DROP INDEX is one
-- InnoDB refuses (ERROR 1553) or one that leaves a foreign key without an index.
-- Same columns as cleanup_foreign_keys.sql, so both go through cleanup_fk.foreign_keys_from_rows.
-- The catalog shows only tables the account can see: a child in a schema it has no grant on
-- is not listed (the README says so).
-- Bound parameter: a tuple of schema names.
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
WHERE k.REFERENCED_TABLE_NAME IS NOT NULL
  AND (k.TABLE_SCHEMA IN %(schemas)s OR k.REFERENCED_TABLE_SCHEMA IN %(schemas)s)
ORDER BY k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION
