-- Accounts a security audit flags: anonymous, no password, any host with global privileges.
-- Locked system accounts (expired password) are not flagged.
-- mysql.user is a view over mysql.global_priv on MariaDB 10.4+ and a table on MySQL.
SELECT User AS user, Host AS host,
       (User = '') AS anonymous,
       (authentication_string = '' AND plugin IN ('mysql_native_password', '')
        AND password_expired = 'N') AS empty_password,
       (Host = '%%' AND (Super_priv = 'Y' OR Grant_priv = 'Y' OR Process_priv = 'Y'
                        OR Shutdown_priv = 'Y' OR File_priv = 'Y' OR Create_user_priv = 'Y'
                        OR Delete_priv = 'Y' OR Drop_priv = 'Y')) AS any_host_global
  FROM mysql.user
 WHERE Host <> ''  -- MariaDB lists roles here with an empty host: they cannot log in
