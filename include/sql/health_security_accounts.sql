-- MariaDB: accounts a security audit flags: anonymous, no password, any host with global
-- privileges. Locked system accounts (expired password) are not flagged. mysql.user is a view
-- over mysql.global_priv on MariaDB 10.4+; roles are listed with an empty host (is_role='Y').
-- Bound: %(plugins)s, the plugins whose empty authentication_string means no password.
SELECT User AS user, Host AS host,
       (User = '') AS anonymous,
       (authentication_string = '' AND plugin IN %(plugins)s
        AND password_expired = 'N') AS empty_password,
       (Host = '%%' AND (Super_priv = 'Y' OR Grant_priv = 'Y' OR Process_priv = 'Y'
                        OR Shutdown_priv = 'Y' OR File_priv = 'Y' OR Create_user_priv = 'Y'
                        OR Delete_priv = 'Y' OR Drop_priv = 'Y')) AS any_host_global
  FROM mysql.user
 WHERE Host <> ''  -- roles: they cannot log in
   AND is_role = 'N'
