-- Every index of one table with its columns' nullability: the cleanup picks the key it walks
-- (the primary key, else a unique key over NOT NULL columns) from these rows.
SELECT s.INDEX_NAME   AS index_name,
       s.NON_UNIQUE   AS non_unique,
       s.SEQ_IN_INDEX AS seq_in_index,
       s.COLUMN_NAME  AS column_name,
       s.SUB_PART     AS sub_part,
       c.IS_NULLABLE  AS is_nullable
FROM information_schema.STATISTICS AS s
JOIN information_schema.COLUMNS AS c
  ON c.TABLE_SCHEMA = s.TABLE_SCHEMA
 AND c.TABLE_NAME = s.TABLE_NAME
 AND c.COLUMN_NAME = s.COLUMN_NAME
WHERE s.TABLE_SCHEMA = %s AND s.TABLE_NAME = %s
ORDER BY s.INDEX_NAME, s.SEQ_IN_INDEX
