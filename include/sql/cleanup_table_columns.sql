-- One table's columns in order; generated columns are recognised from EXTRA and never copied.
SELECT COLUMN_NAME AS column_name,
       IS_NULLABLE AS is_nullable,
       DATA_TYPE   AS data_type,
       EXTRA       AS extra
FROM information_schema.COLUMNS
WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s
ORDER BY ORDINAL_POSITION
