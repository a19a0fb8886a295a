-- One row per backup, written just before its snapshot: a restore reads it back to prove
-- the data's point in time.
CREATE TABLE IF NOT EXISTS {schema}.`backup_heartbeat` (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  taken_at DATETIME(6) NOT NULL,
  database_name VARCHAR(64) NOT NULL,
  KEY taken_at (taken_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
