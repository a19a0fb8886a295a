-- Can the account read mysql.proc (MariaDB, MySQL 5.7)? Then it sees every definer's routines.
SELECT COUNT(*) AS readable FROM mysql.proc WHERE 1 = 0
