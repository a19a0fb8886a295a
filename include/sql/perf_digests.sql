-- Every statement digest with its cumulative counters (performance_schema timers are ps).
SELECT DIGEST AS digest, COALESCE(SCHEMA_NAME, '') AS schema_name,
       LEFT(DIGEST_TEXT, 1000) AS text, COUNT_STAR AS calls,
       SUM_TIMER_WAIT / 1e12 AS total_s, SUM_ROWS_EXAMINED AS rows_examined,
       SUM_NO_INDEX_USED AS no_index_used, SUM_NO_GOOD_INDEX_USED AS no_good_index_used,
       SUM_CREATED_TMP_TABLES AS tmp_tables, SUM_CREATED_TMP_DISK_TABLES AS tmp_disk_tables
  FROM performance_schema.events_statements_summary_by_digest
 WHERE DIGEST IS NOT NULL AND COUNT_STAR > 0
