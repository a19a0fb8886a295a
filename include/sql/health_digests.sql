-- Statement digests by total latency (performance_schema; timers are picoseconds).
SELECT DIGEST AS digest, SCHEMA_NAME AS schema_name, LEFT(DIGEST_TEXT, 200) AS text,
       COUNT_STAR AS calls, SUM_TIMER_WAIT / 1e12 AS total_s, AVG_TIMER_WAIT / 1e12 AS avg_s
  FROM performance_schema.events_statements_summary_by_digest
 WHERE DIGEST IS NOT NULL
 ORDER BY SUM_TIMER_WAIT DESC
 LIMIT 20
