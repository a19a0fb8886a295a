-- The audit log: one row per maintenance command, written before the command runs and
-- completed after it, so a killed task leaves a row with outcome 'running' behind.
CREATE DATABASE IF NOT EXISTS {history_schema};

CREATE TABLE IF NOT EXISTS {history_schema}.`maintenance_log` (
    `id`            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    `database_name` VARCHAR(64)  NOT NULL COMMENT 'name of the database in maintenance.yaml',
    `object_name`   VARCHAR(200) NULL     COMMENT 'schema.table or another object, if any',
    `command`       TEXT         NOT NULL COMMENT 'the statement or action, passwords redacted',
    `started_at`    DATETIME(6)  NOT NULL,
    `ended_at`      DATETIME(6)  NULL,
    `rows_affected` BIGINT       NULL,
    `outcome`       VARCHAR(16)  NOT NULL COMMENT 'running, ok, failed, skipped, dry_run',
    `error`         TEXT         NULL,
    `dag_id`        VARCHAR(250) NULL,
    `run_id`        VARCHAR(250) NULL,
    `task_id`       VARCHAR(250) NULL,
    `map_index`     INT          NULL,
    `details`       TEXT         NULL     COMMENT 'JSON with the action''s structured result',
    PRIMARY KEY (`id`),
    KEY `by_database_time` (`database_name`, `started_at`),
    KEY `by_run` (`dag_id`, `run_id`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
