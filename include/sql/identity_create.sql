-- Nonces written on the source before a restore or drill writes to another server: a target
-- that shows one of them is the source itself, whatever address reached it.
CREATE DATABASE IF NOT EXISTS {schema};
CREATE TABLE IF NOT EXISTS {schema}.`server_identity_nonce` (
  nonce CHAR(32) NOT NULL PRIMARY KEY,
  written_at DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4
