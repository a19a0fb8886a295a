-- Column types of one schema's tables, for the row-width estimate. Bound: %(schema)s.
SELECT TABLE_NAME AS table_name, COLUMN_NAME AS column_name, DATA_TYPE AS data_type,
       DATETIME_PRECISION AS datetime_precision
  FROM information_schema.COLUMNS
 WHERE TABLE_SCHEMA = %(schema)s
 ORDER BY TABLE_NAME, ORDINAL_POSITION
