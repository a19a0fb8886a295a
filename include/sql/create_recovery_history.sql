-- Recovery evidence over time: one row per restore test or disaster-recovery drill, so the
-- weekly report can show RTO trends and monitoring can see when the last good drill was.
CREATE DATABASE IF NOT EXISTS {history_schema};

CREATE TABLE IF NOT EXISTS {history_schema}.`recovery_tests` (
    `id`            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    `database_name` VARCHAR(64)  NOT NULL,
    `kind`          VARCHAR(32)  NOT NULL COMMENT 'restore_test or dr_drill',
    `tested_at`     DATETIME(6)  NOT NULL,
    `run_id`        VARCHAR(250) NULL,
    `ok`            TINYINT(1)   NOT NULL,
    `rto_s`         DOUBLE       NULL     COMMENT 'restore + verify wall time',
    `rpo_s`         DOUBLE       NULL     COMMENT 'backup age (restore test) or recovery point lag',
    `tool`          VARCHAR(32)  NULL,
    `details`       LONGTEXT     NULL     COMMENT 'JSON: the result without bulky parts',
    PRIMARY KEY (`id`),
    KEY `by_database_kind_time` (`database_name`, `kind`, `tested_at`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
