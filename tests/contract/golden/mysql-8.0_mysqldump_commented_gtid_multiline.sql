-- Source: not a verbatim file. Written from the formats documented in the MySQL 8.0 Reference
-- Manual, "mysqldump -- A Database Backup Program" (--source-data, --set-gtid-purged=COMMENTED,
-- https://dev.mysql.com/doc/refman/8.0/en/mysqldump.html) and "Establishing a Backup Policy"
-- (the coordinate line without a space after the comma,
-- https://dev.mysql.com/doc/refman/8.0/en/backup-policy.html). The commented GTID line's shape
-- is the one a public copy of "MySQL Cookbook", 4th ed. (O'Reilly), replication chapter, shows
-- grepped from a real dump: "/* SET @@GLOBAL.GTID_PURGED='+9113f6b1-...:1-385';*/". A server with
-- two source UUIDs prints @@GLOBAL.gtid_executed with a newline after each comma, which
-- mysqldump copies verbatim, so the set spans two lines here.

-- MySQL dump 10.13  Distrib 8.0.36, for Linux (x86_64)
--
-- Host: 127.0.0.1    Database: app
-- ------------------------------------------------------
-- Server version	8.0.36

SET @MYSQLDUMP_TEMP_LOG_BIN = @@SESSION.SQL_LOG_BIN;
SET @@SESSION.SQL_LOG_BIN= 0;

--
-- GTID state at the beginning of the backup 
--

/* SET @@GLOBAL.GTID_PURGED='+9113f6b1-0751-11eb-9e7d-0242dc638c6c:1-385,
910c760a-0751-11eb-9da8-0242dc638c6c:1-12';*/

--
-- Position to start replication or point-in-time recovery from
--

-- CHANGE REPLICATION SOURCE TO SOURCE_LOG_FILE='gbichot2-bin.000007',SOURCE_LOG_POS=4;
