-- Index usage accumulated across server restarts: performance_schema counters start from 0 at
-- every restart, so a single reading would make every index look unused after one.
CREATE DATABASE IF NOT EXISTS {history_schema};

CREATE TABLE IF NOT EXISTS {history_schema}.`index_usage` (
    `schema_name`  VARCHAR(64)     NOT NULL,
    `table_name`   VARCHAR(64)     NOT NULL,
    `index_name`   VARCHAR(64)     NOT NULL,
    `first_seen`   DATETIME        NOT NULL COMMENT 'first observation: start of the period',
    `last_seen`    DATETIME        NOT NULL COMMENT 'latest observation',
    `server_boot`  DATETIME        NOT NULL COMMENT 'server start time of the last reading',
    `last_reads`   BIGINT UNSIGNED NOT NULL COMMENT 'raw counter at the last reading',
    `total_reads`  BIGINT UNSIGNED NOT NULL COMMENT 'reads accumulated over all readings',
    `last_used`    DATETIME        NULL     COMMENT 'latest observation that saw new reads',
    PRIMARY KEY (`schema_name`, `table_name`, `index_name`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
