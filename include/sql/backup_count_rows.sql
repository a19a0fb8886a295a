-- Exact row count of one table, read inside the caller's consistent snapshot.
SELECT COUNT(*) AS row_count FROM {schema}.{table}
