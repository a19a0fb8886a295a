-- Source: the MySQL 5.7 Reference Manual, "Establishing a Backup Policy"
-- (https://dev.mysql.com/doc/refman/5.7/en/backup-policy.html): the lines mysqldump
-- --master-data=2 writes (what mysqldump before 8.0.26 writes, and MariaDB's with the old name).

--
-- Position to start replication or point-in-time recovery from
--

-- CHANGE MASTER TO MASTER_LOG_FILE='gbichot2-bin.000007',MASTER_LOG_POS=4;
