-- Rows inserted, deleted or updated in an indexed column since InnoDB last computed the
-- table's statistics (in memory; tables opened since the server started).
-- {innodb_tablestats}: INNODB_SYS_TABLESTATS (MariaDB, MySQL 5.7) or INNODB_TABLESTATS (8.0+).
-- Bound parameter: a LIKE pattern 'schema/' + wildcard.
SELECT NAME AS name, NUM_ROWS AS num_rows, MODIFIED_COUNTER AS modified_counter
  FROM information_schema.{innodb_tablestats}
 WHERE NAME LIKE %s
