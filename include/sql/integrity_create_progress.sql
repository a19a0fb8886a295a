-- Where the last integrity run stopped, per database: the next run resumes after this table.
CREATE DATABASE IF NOT EXISTS {history_schema};

CREATE TABLE IF NOT EXISTS {history_schema}.`integrity_progress` (
    `database_name` VARCHAR(64)  NOT NULL,
    `last_schema`   VARCHAR(64)  NOT NULL,
    `last_table`    VARCHAR(64)  NOT NULL,
    `updated_at`    DATETIME(6)  NOT NULL,
    PRIMARY KEY (`database_name`)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
