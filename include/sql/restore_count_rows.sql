-- Exact row count of one restored table.
SELECT COUNT(*) AS row_count FROM {schema}.{table}
