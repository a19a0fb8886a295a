-- The smallest non-empty base tables of the maintained schemas: cheap to checksum on both
-- sides, and still proof that the replica holds the same rows.
SELECT TABLE_SCHEMA AS table_schema, TABLE_NAME AS table_name
FROM information_schema.TABLES
WHERE TABLE_SCHEMA IN %(schemas)s AND TABLE_TYPE = 'BASE TABLE' AND TABLE_ROWS > 0
ORDER BY DATA_LENGTH + INDEX_LENGTH, TABLE_SCHEMA, TABLE_NAME
LIMIT %(n)s
