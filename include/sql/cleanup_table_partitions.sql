-- One table's partitions in range order (no rows for a table that is not partitioned).
SELECT PARTITION_NAME             AS name,
       PARTITION_ORDINAL_POSITION AS position,
       PARTITION_METHOD           AS method,
       PARTITION_EXPRESSION       AS expression,
       PARTITION_DESCRIPTION      AS description,
       SUBPARTITION_METHOD        AS subpartition_method,
       TABLE_ROWS                 AS table_rows
FROM information_schema.PARTITIONS
WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND PARTITION_NAME IS NOT NULL
ORDER BY PARTITION_ORDINAL_POSITION, SUBPARTITION_ORDINAL_POSITION
