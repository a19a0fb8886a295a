-- Privileges of the connected account, global ('*') and per schema, from the catalog.
-- Bound parameter: the grantee in the catalog's form, e.g. 'maint'@'localhost'.
SELECT '*' AS scope, PRIVILEGE_TYPE AS privilege
  FROM information_schema.USER_PRIVILEGES
 WHERE GRANTEE = %(grantee)s
UNION ALL
SELECT TABLE_SCHEMA AS scope, PRIVILEGE_TYPE AS privilege
  FROM information_schema.SCHEMA_PRIVILEGES
 WHERE GRANTEE = %(grantee)s
