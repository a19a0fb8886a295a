-- The scratch target's record of the schemas restore tests created there.
CREATE DATABASE IF NOT EXISTS {marker_schema};
CREATE TABLE IF NOT EXISTS {marker_schema}.{marker_table} (
  schema_name VARCHAR(64) NOT NULL PRIMARY KEY,
  restored_at DATETIME NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
