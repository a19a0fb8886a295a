-- MariaDB: accounts a security audit flags: anonymous, no password, any host with global
-- privileges (any_host_global names the risky ones, comma-separated; '' for none: the health
-- check tells its own accounts' needs from the rest). Locked system accounts (expired password)
-- are not flagged. mysql.user is a view over mysql.global_priv on MariaDB 10.4+; roles are
-- listed with an empty host (is_role='Y').
-- Bound: %(plugins)s, the plugins whose empty authentication_string means no password.
SELECT User AS user, Host AS host,
       (User = '') AS anonymous,
       (authentication_string = '' AND plugin IN %(plugins)s
        AND password_expired = 'N') AS empty_password,
       IF(Host = '%%', CONCAT_WS(',', IF(Super_priv = 'Y', 'SUPER', NULL),
                                      IF(Grant_priv = 'Y', 'GRANT OPTION', NULL),
                                      IF(Process_priv = 'Y', 'PROCESS', NULL),
                                      IF(Shutdown_priv = 'Y', 'SHUTDOWN', NULL),
                                      IF(File_priv = 'Y', 'FILE', NULL),
                                      IF(Create_user_priv = 'Y', 'CREATE USER', NULL),
                                      IF(Delete_priv = 'Y', 'DELETE', NULL),
                                      IF(Drop_priv = 'Y', 'DROP', NULL)), '') AS any_host_global
  FROM mysql.user
 WHERE Host <> ''  -- roles: they cannot log in
   AND is_role = 'N'
