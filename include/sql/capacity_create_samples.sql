-- Per-schema and per-table sizes and auto-increment counters over time, for forecasts.
CREATE DATABASE IF NOT EXISTS {history_schema};

CREATE TABLE IF NOT EXISTS {history_schema}.`capacity_samples` (
    `id`             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    `database_name`  VARCHAR(64)  NOT NULL,
    `sampled_at`     DATETIME(6)  NOT NULL,
    `schema_name`    VARCHAR(64)  NOT NULL,
    `table_name`     VARCHAR(64)  NOT NULL COMMENT 'empty: the whole schema',
    `bytes`          BIGINT UNSIGNED NOT NULL,
    `auto_increment` BIGINT UNSIGNED NULL,
    PRIMARY KEY (`id`),
    KEY `by_database_object` (`database_name`, `schema_name`, `table_name`, `sampled_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
