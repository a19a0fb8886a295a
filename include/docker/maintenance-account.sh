#!/bin/bash
# Create the maintenance account from include/sql/grants.sql in the compose stack's MariaDB,
# on first start (the image runs /docker-entrypoint-initdb.d/ once, on an empty datadir).
#
# The file runs as written, once per maintained schema, with only its example names replaced:
# `app` by each of $MAINTENANCE_SCHEMAS (comma or space separated, default app) and
# `_maintenance` by $MAINTENANCE_HISTORY_SCHEMA. Its placeholder password is then replaced with
# $MAINTENANCE_DB_PASSWORD by an ALTER USER sent on stdin: the password is never on a command
# line. The DAGs log in as this account; root stays with the administrator.
set -eo pipefail

mmc_grants=${MMC_GRANTS_FILE:-/mmc/grants.sql}
mmc_schemas=${MAINTENANCE_SCHEMAS:-app}
mmc_schemas=${mmc_schemas//,/ }
mmc_history=${MAINTENANCE_HISTORY_SCHEMA:-_maintenance}

mmc_fail() {
    echo "maintenance-account: $*" >&2
    exit 1
}

[ -n "${MAINTENANCE_DB_PASSWORD:-}" ] || mmc_fail "set MAINTENANCE_DB_PASSWORD (README: Run it in Docker)"
# The password also goes into the Airflow connection's JSON (docker-compose.yaml): no quote,
# backslash or line break, which that JSON would need escaped.
case $MAINTENANCE_DB_PASSWORD in
    *[\"\'\\$'\n\r']*) mmc_fail "MAINTENANCE_DB_PASSWORD may not hold quotes, backslashes or line breaks (e.g. openssl rand -hex 24)" ;;
esac
[ ${#MAINTENANCE_DB_PASSWORD} -ge 12 ] || mmc_fail "MAINTENANCE_DB_PASSWORD is shorter than 12 characters"
for mmc_name in $mmc_history $mmc_schemas; do
    [[ $mmc_name =~ ^[A-Za-z0-9_]{1,64}$ ]] || mmc_fail "schema name '$mmc_name' must be 1-64 letters, digits or _"
done

# Sourced by the image's entrypoint, docker_process_sql logs in as root (its password in the
# client's environment); run on its own, the same is done here.
mmc_sql() {
    if declare -F docker_process_sql >/dev/null; then
        docker_process_sql
    else
        MYSQL_PWD=${MARIADB_ROOT_PASSWORD:?} mariadb --protocol=socket -uroot
    fi
}

for mmc_schema in $mmc_schemas; do
    echo "maintenance-account: grants.sql for schema $mmc_schema, history schema $mmc_history"
    printf 'CREATE DATABASE IF NOT EXISTS `%s`;\n' "$mmc_schema" | mmc_sql
    sed -e "s/\`app\`/\`$mmc_schema\`/g" -e "s/\`_maintenance\`/\`$mmc_history\`/g" "$mmc_grants" | mmc_sql
done
# printf is a shell builtin: the password reaches the server through the pipe only.
printf "ALTER USER 'maintenance'@'%%' IDENTIFIED BY '%s';\n" "$MAINTENANCE_DB_PASSWORD" | mmc_sql
echo "maintenance-account: 'maintenance'@'%' ready"
