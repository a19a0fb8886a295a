-- MySQL 8: accounts a security audit flags: anonymous, no password (caching_sha2_password,
-- the default plugin, included), any host with global privileges (any_host_global names the
-- risky ones, comma-separated; '' for none). Not flagged: locked
-- accounts' passwords (they cannot log in), and roles: CREATE ROLE makes a locked account with
-- an expired, empty password, told apart from a user by being granted (mysql.role_edges).
-- https://dev.mysql.com/doc/refman/8.0/en/roles.html ("Roles and User Interchangeability")
-- Bound: %(plugins)s, the plugins whose empty authentication_string means no password.
SELECT u.User AS user, u.Host AS host,
       (u.User = '') AS anonymous,
       (u.authentication_string = '' AND u.plugin IN %(plugins)s
        AND u.password_expired = 'N' AND u.account_locked = 'N') AS empty_password,
       IF(u.Host = '%%', CONCAT_WS(',', IF(u.Super_priv = 'Y', 'SUPER', NULL),
                                        IF(u.Grant_priv = 'Y', 'GRANT OPTION', NULL),
                                        IF(u.Process_priv = 'Y', 'PROCESS', NULL),
                                        IF(u.Shutdown_priv = 'Y', 'SHUTDOWN', NULL),
                                        IF(u.File_priv = 'Y', 'FILE', NULL),
                                        IF(u.Create_user_priv = 'Y', 'CREATE USER', NULL),
                                        IF(u.Delete_priv = 'Y', 'DELETE', NULL),
                                        IF(u.Drop_priv = 'Y', 'DROP', NULL)), '') AS any_host_global
  FROM mysql.user AS u
 WHERE NOT (u.account_locked = 'Y' AND u.password_expired = 'Y' AND u.authentication_string = ''
            AND EXISTS (SELECT 1 FROM mysql.role_edges AS r
                         WHERE r.FROM_USER = u.User AND r.FROM_HOST = u.Host))
