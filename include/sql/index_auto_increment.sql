-- The AUTO_INCREMENT column of each table of one schema: InnoDB needs an index that starts
-- with it (ERROR 1075 "there can be only one auto column and it must be defined as a key"
-- otherwise), so the index advice never drops the last such index.
-- Bound parameter: the schema name (one equality per schema lets the server open only it).
SELECT TABLE_SCHEMA AS schema_name, TABLE_NAME AS table_name, COLUMN_NAME AS column_name
  FROM information_schema.COLUMNS
 WHERE TABLE_SCHEMA = %s
   AND EXTRA LIKE '%%auto_increment%%'
