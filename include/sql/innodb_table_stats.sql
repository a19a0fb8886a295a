-- InnoDB persistent statistics: row count and time of the last refresh (ANALYZE TABLE or
-- the background auto-recalc). Bound parameter: a tuple of schema names.
SELECT database_name AS schema_name, table_name, n_rows, last_update
  FROM mysql.innodb_table_stats
 WHERE database_name IN %(schemas)s
