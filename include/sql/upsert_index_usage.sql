-- One row of accumulated index usage; values already combined in Python (accumulate_usage).
INSERT INTO {history_schema}.`index_usage`
    (`schema_name`, `table_name`, `index_name`, `first_seen`, `last_seen`, `server_boot`,
     `last_reads`, `total_reads`, `last_used`)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
ON DUPLICATE KEY UPDATE
    `last_seen` = VALUES(`last_seen`), `server_boot` = VALUES(`server_boot`),
    `last_reads` = VALUES(`last_reads`), `total_reads` = VALUES(`total_reads`),
    `last_used` = VALUES(`last_used`)
