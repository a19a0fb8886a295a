-- The maintenance account, with exactly the privileges the DAGs need, and no more.
-- Run as an administrator after replacing the password, the host, `app` (one set of schema
-- GRANTs per maintained schema) and `_maintenance` (the history schema):
--     mariadb -u root -p < include/sql/grants.sql        (or: mysql -u root -p < ...)
-- One file for every flavor: statements inside /*M!NNNNNN ... */ run only on MariaDB from that
-- version (100509 = 10.5.9), statements inside /*!NNNNN ... */ only on MySQL from that version
-- (80020 = 8.0.20; MariaDB skips MySQL 5.7+ version comments, MySQL skips /*M! comments). Every GRANT carries a `-- needs:` line: the cadences
-- (or the features) that use it and the step that needs it. The preflight reads this file and
-- checks exactly these grants for the cadence it runs, naming each one missing before any work.
--   cadences: daily weekly monthly backup drill health
--   features: backups (any run that takes a backup: backup testing, daily with backup.enabled)
--             replicas (a database with replicas configured: health check and drill)
-- The runbooks' on-call account needs more (KILL, read_only, failover): it is the second section
-- below, 'oncall'@'%', with its own `-- needs:` tags (the runbook commands).
-- Host '%' works from any Airflow worker; your workers' addresses (e.g. '10.0.1.%') are safer.
-- The health check's security audit knows both accounts: their global privileges from '%' are
-- listed with the reasons below and cost no points; anything beyond this file is a finding.

CREATE USER IF NOT EXISTS 'maintenance'@'%' IDENTIFIED BY 'change-me';

-- Global privileges (ON *.* only).
-- needs: daily weekly monthly backups drill health | the process list and INNODB_TRX: long-transaction and metadata-lock guards, longest query, SHOW ENGINE INNODB STATUS
GRANT PROCESS ON *.* TO 'maintenance'@'%';
-- needs: backups | FLUSH TABLES WITH READ LOCK for the dump's consistent binlog coordinates
GRANT RELOAD ON *.* TO 'maintenance'@'%';
-- needs: backups drill health | SHOW BINARY LOGS / SHOW MASTER STATUS: binlog position, retention (BINLOG MONITOR on MariaDB 10.5+)
GRANT REPLICATION CLIENT ON *.* TO 'maintenance'@'%';
-- needs: drill | the PITR drill reads binary logs from the server as a replica would (mariadb-binlog --read-from-remote-server)
GRANT REPLICATION SLAVE ON *.* TO 'maintenance'@'%';
-- needs: replicas | SHOW REPLICA STATUS on MariaDB 10.5.9+ (REPLICATION CLIENT no longer includes it there)
/*M!100509 GRANT SLAVE MONITOR ON *.* TO 'maintenance'@'%' */;
-- needs: backups | mysqldump sees routines of every definer on MySQL 8.0.20+
/*!80020 GRANT SHOW_ROUTINE ON *.* TO 'maintenance'@'%' */;

-- Each maintained schema (repeat for each; `app` is an example).
-- needs: all | read the tables: CHECK TABLE, exact counts, dumps, cleanup's chunk boundaries
GRANT SELECT ON `app`.* TO 'maintenance'@'%';
-- needs: daily weekly monthly | ANALYZE and OPTIMIZE TABLE (they need SELECT and INSERT); cleanup copies rows into archive tables
GRANT INSERT ON `app`.* TO 'maintenance'@'%';
-- needs: daily | cleanup deletes expired rows in chunks
GRANT DELETE ON `app`.* TO 'maintenance'@'%';
-- needs: daily | cleanup creates its archive tables (CREATE TABLE ... LIKE)
GRANT CREATE ON `app`.* TO 'maintenance'@'%';
-- needs: daily weekly monthly | online rebuilds (ALTER TABLE ... FORCE), expired partitions (ALTER TABLE ... DROP PARTITION)
GRANT ALTER ON `app`.* TO 'maintenance'@'%';
-- needs: daily | dropping an expired partition also needs DROP
GRANT DROP ON `app`.* TO 'maintenance'@'%';
-- needs: backups | dump views (SHOW CREATE VIEW)
GRANT SHOW VIEW ON `app`.* TO 'maintenance'@'%';
-- needs: backups | dump triggers
GRANT TRIGGER ON `app`.* TO 'maintenance'@'%';
-- needs: backups | dump events
GRANT EVENT ON `app`.* TO 'maintenance'@'%';
-- needs: backups | the dump tools lock tables they cannot read in one snapshot (non-InnoDB)
GRANT LOCK TABLES ON `app`.* TO 'maintenance'@'%';

-- The history schema (audit log, health samples, index usage, restore tests, heartbeats).
-- needs: all | the audit log and every history table
GRANT SELECT, INSERT, UPDATE, DELETE, CREATE ON `_maintenance`.* TO 'maintenance'@'%';
-- needs: backups | the heartbeat table is dumped with the schema's events
GRANT EVENT ON `_maintenance`.* TO 'maintenance'@'%';

-- Catalog reads.
-- needs: daily monthly | stale-statistics selection (persistent statistics' n_rows and last_update)
GRANT SELECT ON `mysql`.`innodb_table_stats` TO 'maintenance'@'%';
-- needs: daily | index sizes of the index findings
GRANT SELECT ON `mysql`.`innodb_index_stats` TO 'maintenance'@'%';
-- needs: health | the security audit's account list
GRANT SELECT ON `mysql`.`user` TO 'maintenance'@'%';
-- needs: health | MySQL 8: the security audit tells roles (locked, never log in) from accounts
/*!80000 GRANT SELECT ON `mysql`.`role_edges` TO 'maintenance'@'%' */;
-- needs: daily weekly monthly health | index usage counters and statement digests; on MySQL before 8.0.24 the ANALYZE guard's metadata locks
GRANT SELECT ON `performance_schema`.* TO 'maintenance'@'%';
-- needs: backups | MariaDB shows other definers' routines (and their bodies) only with this
/*M!100300 GRANT SELECT ON `mysql`.`proc` TO 'maintenance'@'%' */;
-- needs: monthly | MariaDB histograms: which columns already have one (engine-independent statistics)
/*M!100300 GRANT SELECT ON `mysql`.`column_stats` TO 'maintenance'@'%' */;

-- ============================================================================================
-- The on-call account: what the runbooks in include/recovery/ need, and no more. A separate
-- account from the maintenance one: a person logs in with it at a bad moment; the DAGs never do.
-- It is created LOCKED with a placeholder password: give it a real one (and unlock it) with
--     ALTER USER 'oncall'@'%' IDENTIFIED BY '...' ACCOUNT UNLOCK;
-- Every runbook's --check-privileges (run by every --dry-run and before every real run) reads
-- these lines and names each grant missing for the command asked for, before anything is done.
--   runbooks: status runaway (list) kill (runaway --kill) read-only failover (the replica promoted) fence (the old primary,
--             when reachable) restore (its --binlog-source) find copy-back
-- A restore's --target is a new or scratch server: restore into it as its administrator.
-- Supported servers: MariaDB 10.6+ and MySQL 8.0+. On older servers SUPER stands for the
-- ADMIN privileges below (MariaDB before 10.5.2, MySQL 5.7): grant it there instead.

CREATE USER IF NOT EXISTS 'oncall'@'%' IDENTIFIED BY 'change-me' ACCOUNT LOCK;

-- Global privileges (ON *.* only).
-- needs: status runaway kill fence | every session in the process list (the longest query, the runaway list, the writers to end), not only the account's own
GRANT PROCESS ON *.* TO 'oncall'@'%';
-- needs: kill fence | KILL QUERY / KILL CONNECTION of other accounts' sessions (runaway --kill; the failover ends the old primary's writers)
/*M!100502 GRANT CONNECTION ADMIN ON *.* TO 'oncall'@'%' */;
-- needs: kill fence | KILL QUERY / KILL CONNECTION of other accounts' sessions (runaway --kill; the failover ends the old primary's writers)
/*!80000 GRANT CONNECTION_ADMIN ON *.* TO 'oncall'@'%' */;
-- needs: read-only failover fence | SET GLOBAL read_only (read-only on/off; the failover makes the replica writable and the old primary read-only)
/*M!100502 GRANT READ_ONLY ADMIN ON *.* TO 'oncall'@'%' */;
-- needs: read-only failover fence | SET GLOBAL read_only and super_read_only (read-only on/off; the failover makes the replica writable and the old primary read-only)
/*!80000 GRANT SYSTEM_VARIABLES_ADMIN ON *.* TO 'oncall'@'%' */;
-- needs: failover | STOP REPLICA and RESET REPLICA ALL on the replica promoted
/*M!100502 GRANT REPLICATION SLAVE ADMIN ON *.* TO 'oncall'@'%' */;
-- needs: failover | STOP REPLICA and RESET REPLICA ALL on the replica promoted
/*!80000 GRANT REPLICATION_SLAVE_ADMIN ON *.* TO 'oncall'@'%' */;
-- needs: failover | RESET REPLICA ALL on the replica promoted (both flavors ask for RELOAD)
GRANT RELOAD ON *.* TO 'oncall'@'%';
-- needs: status failover | SHOW REPLICA STATUS: replication health, what the replica received and applied
/*M!100509 GRANT SLAVE MONITOR ON *.* TO 'oncall'@'%' */;
-- needs: status failover | SHOW REPLICA STATUS on MySQL: replication health, what the replica received and applied
/*!80000 GRANT REPLICATION CLIENT ON *.* TO 'oncall'@'%' */;
-- needs: restore find | SHOW BINARY LOGS on the binlog source: the chain of files to read (BINLOG MONITOR on MariaDB 10.5+)
GRANT REPLICATION CLIENT ON *.* TO 'oncall'@'%';
-- needs: restore find | read the binary logs of the binlog source as a replica would (mariadb-binlog --read-from-remote-server)
GRANT REPLICATION SLAVE ON *.* TO 'oncall'@'%';

-- needs: restore | the restore's identity check: a nonce row written to the binlog source's history schema (then looked for on the target, then deleted)
GRANT SELECT, INSERT, DELETE, CREATE ON `_maintenance`.* TO 'oncall'@'%';

-- Each maintained schema (repeat for each; `app` is an example).
-- needs: copy-back | read the rows to copy back (on the restored copy) and the rows already there (on production)
GRANT SELECT ON `app`.* TO 'oncall'@'%';
-- needs: copy-back | copy the missing rows back (INSERT IGNORE: rows on both sides are left alone)
GRANT INSERT ON `app`.* TO 'oncall'@'%';

-- The history schema.
-- needs: failover | the promoted server proves it takes writes: a row in the heartbeat table (created if missing)
GRANT SELECT, INSERT, UPDATE, CREATE ON `_maintenance`.* TO 'oncall'@'%';
