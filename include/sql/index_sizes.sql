-- Index sizes in pages from InnoDB's persistent statistics, for a list of schemas.
-- table_name is InnoDB's file name form: special characters encoded, partitions as t#P#p0.
-- Bound parameter: a tuple of schema names.
SELECT database_name AS schema_name, table_name, index_name, stat_value AS pages
  FROM mysql.innodb_index_stats
 WHERE stat_name = 'size'
   AND database_name IN %(schemas)s
