-- Privileges of the connected account, as scopes `*.*`, `schema.*` and `schema.table`.
-- Bound parameter: the grantee in the catalog's form, e.g. 'maint'@'localhost'.
SELECT '*.*' AS scope, PRIVILEGE_TYPE AS privilege
  FROM information_schema.USER_PRIVILEGES
 WHERE GRANTEE = %(grantee)s
UNION ALL
SELECT CONCAT(TABLE_SCHEMA, '.*') AS scope, PRIVILEGE_TYPE AS privilege
  FROM information_schema.SCHEMA_PRIVILEGES
 WHERE GRANTEE = %(grantee)s
UNION ALL
SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) AS scope, PRIVILEGE_TYPE AS privilege
  FROM information_schema.TABLE_PRIVILEGES
 WHERE GRANTEE = %(grantee)s
