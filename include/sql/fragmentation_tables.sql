-- Fragmentation catalog: one row per base table of one schema, with the tablespace file's
-- real size (file-per-table only) and the indexes that rule out an online rebuild.
-- {innodb_tablespaces}: the dialect's name, INNODB_SYS_TABLESPACES (MariaDB, MySQL 5.7) or
-- INNODB_TABLESPACES (MySQL 8.0+). Bound parameter: %(schema)s.
SELECT t.TABLE_SCHEMA AS schema_name,
       t.TABLE_NAME AS table_name,
       t.ENGINE AS engine,
       t.ROW_FORMAT AS row_format,
       COALESCE(t.TABLE_ROWS, 0) AS table_rows,
       COALESCE(t.DATA_LENGTH, 0) AS data_length,
       COALESCE(t.INDEX_LENGTH, 0) AS index_length,
       COALESCE(t.DATA_FREE, 0) AS data_free,
       ts.FILE_SIZE AS file_size,
       ts.ALLOCATED_SIZE AS allocated_size,
       ix.blocking_index_types AS blocking_index_types
  FROM information_schema.TABLES AS t
  LEFT JOIN information_schema.{innodb_tablespaces} AS ts
         ON ts.NAME = CONCAT(t.TABLE_SCHEMA, '/', t.TABLE_NAME)
  LEFT JOIN (SELECT TABLE_NAME, GROUP_CONCAT(DISTINCT INDEX_TYPE ORDER BY INDEX_TYPE) AS blocking_index_types
               FROM information_schema.STATISTICS
              WHERE TABLE_SCHEMA = %(schema)s AND INDEX_TYPE IN ('FULLTEXT', 'SPATIAL')
              GROUP BY TABLE_NAME) AS ix
         ON ix.TABLE_NAME = t.TABLE_NAME
 WHERE t.TABLE_SCHEMA = %(schema)s
   AND t.TABLE_TYPE = 'BASE TABLE'
 ORDER BY t.TABLE_NAME
