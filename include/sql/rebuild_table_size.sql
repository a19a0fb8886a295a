-- One table's tablespace file size (file-per-table InnoDB). Bound: the 'schema/table' name.
SELECT FILE_SIZE AS file_size, ALLOCATED_SIZE AS allocated_size
  FROM information_schema.INNODB_SYS_TABLESPACES
 WHERE NAME = %s
