-- Health-check history: one row per database per sample, metrics and breaches as JSON text,
-- and the alert state behind the quiet period (one row per database and alert key).
CREATE DATABASE IF NOT EXISTS {history_schema};

CREATE TABLE IF NOT EXISTS {history_schema}.`health_samples` (
    `id`            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    `database_name` VARCHAR(64)  NOT NULL,
    `sampled_at`    DATETIME(6)  NOT NULL,
    `run_id`        VARCHAR(250) NULL,
    `score`         SMALLINT     NOT NULL,
    `status`        VARCHAR(16)  NOT NULL COMMENT 'healthy, degraded, critical',
    `metrics`       LONGTEXT     NOT NULL COMMENT 'JSON object: metric name to number',
    `breaches`      LONGTEXT     NOT NULL COMMENT 'JSON list of threshold breaches',
    `details`       LONGTEXT     NULL     COMMENT 'JSON: digests, sizes, security findings',
    PRIMARY KEY (`id`),
    KEY `by_database_time` (`database_name`, `sampled_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS {history_schema}.`alert_state` (
    `database_name` VARCHAR(64)  NOT NULL,
    `alert_key`     VARCHAR(191) NOT NULL COMMENT 'metric:level, identical alerts share it',
    `level`         VARCHAR(16)  NOT NULL,
    `first_seen`    DATETIME(6)  NOT NULL,
    `last_seen`     DATETIME(6)  NOT NULL,
    `last_sent`     DATETIME(6)  NULL,
    `message`       TEXT         NULL,
    PRIMARY KEY (`database_name`, `alert_key`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
