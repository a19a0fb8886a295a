-- Weekly snapshots of the statement digests' cumulative counters, for regression checks.
CREATE DATABASE IF NOT EXISTS {history_schema};

CREATE TABLE IF NOT EXISTS {history_schema}.`digest_snapshots` (
    `id`            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    `database_name` VARCHAR(64)  NOT NULL,
    `taken_at`      DATETIME(6)  NOT NULL,
    `digest`        VARCHAR(64)  NOT NULL,
    `schema_name`   VARCHAR(64)  NOT NULL,
    `digest_text`   TEXT         NULL,
    `calls`         BIGINT UNSIGNED NOT NULL,
    `total_s`       DOUBLE       NOT NULL,
    PRIMARY KEY (`id`),
    KEY `by_database_time` (`database_name`, `taken_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
