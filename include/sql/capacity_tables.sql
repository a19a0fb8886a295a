-- Size, engine and auto-increment counter of every base table of the given schemas.
SELECT t.TABLE_SCHEMA AS schema_name, t.TABLE_NAME AS table_name, t.ENGINE AS engine,
       COALESCE(t.DATA_LENGTH, 0) + COALESCE(t.INDEX_LENGTH, 0) AS bytes,
       t.AUTO_INCREMENT AS auto_increment, c.COLUMN_NAME AS autoinc_column,
       c.DATA_TYPE AS data_type, c.COLUMN_TYPE AS column_type
  FROM information_schema.TABLES t
  LEFT JOIN information_schema.COLUMNS c
    ON c.TABLE_SCHEMA = t.TABLE_SCHEMA AND c.TABLE_NAME = t.TABLE_NAME
   AND c.EXTRA LIKE '%%auto_increment%%'
 WHERE t.TABLE_SCHEMA IN %(schemas)s
   AND t.TABLE_TYPE = 'BASE TABLE'
 ORDER BY t.TABLE_SCHEMA, t.TABLE_NAME
