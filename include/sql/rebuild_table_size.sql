-- One table's tablespace file size (file-per-table InnoDB). Bound: the 'schema/table' name.
-- {innodb_tablespaces}: INNODB_SYS_TABLESPACES (MariaDB, MySQL 5.7) or INNODB_TABLESPACES (8.0+).
SELECT FILE_SIZE AS file_size, ALLOCATED_SIZE AS allocated_size
  FROM information_schema.{innodb_tablespaces}
 WHERE NAME = %s
