-- Rows inserted, deleted or updated in an indexed column since InnoDB last computed the
-- table's statistics (in memory; tables opened since the server started). MariaDB's name;
-- MySQL 8 calls it INNODB_TABLESTATS. Bound parameter: a LIKE pattern 'schema/' + wildcard.
SELECT NAME AS name, NUM_ROWS AS num_rows, MODIFIED_COUNTER AS modified_counter
  FROM information_schema.INNODB_SYS_TABLESTATS
 WHERE NAME LIKE %s
