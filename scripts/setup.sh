#!/usr/bin/env bash
# Set up everything `make demo` and `make test` need, idempotently:
# system packages (apt-get, when root), uv, the locked .venv, and a migrated AIRFLOW_HOME.
set -euo pipefail
cd "$(dirname "$0")/.."

PACKAGES=(libmariadb-dev pkg-config mariadb-client mariadb-server mariadb-backup mydumper zstd
          percona-toolkit chromium chromium-driver openssl
          python3 python3-venv postgresql redis-server build-essential)

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
# A Python 3.11 that is not Debian's (pyenv, a container image) needs no python3 packages.
if command -v python3.11 >/dev/null 2>&1 && python3.11 -c 'import venv' 2>/dev/null; then
  missing=("${missing[@]/python3-venv}"); missing=("${missing[@]/python3}")
fi
missing=($(printf '%s\n' "${missing[@]}" | grep -v '^$' || true))
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "setup: missing system packages; run: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

UV=$(command -v uv || true)
if [ -z "$UV" ]; then
  if [ ! -x .tools/bin/uv ]; then
    echo "setup: installing uv into .tools/"
    python3.11 -m venv .tools 2>/dev/null || python3 -m venv .tools
    .tools/bin/pip install -q uv
  fi
  UV=.tools/bin/uv
fi

if [ ! -f .venv/.synced ] || [ uv.lock -nt .venv/.synced ] || [ pyproject.toml -nt .venv/.synced ]; then
  echo "setup: creating .venv from uv.lock"
  "$UV" sync --frozen --python 3.11 --quiet --compile-bytecode
  touch .venv/.synced
fi

export AIRFLOW_HOME="${AIRFLOW_HOME:-$PWD/.airflow}"
stamp="$AIRFLOW_HOME/.migrated-$(.venv/bin/python -c 'import importlib.metadata as m; print(m.version("apache-airflow-core"))')"
if [ ! -f "$stamp" ]; then
  echo "setup: migrating the Airflow metadata database in $AIRFLOW_HOME"
  mkdir -p "$AIRFLOW_HOME"
  AIRFLOW__CORE__LOAD_EXAMPLES=False .venv/bin/airflow db migrate >"$AIRFLOW_HOME/migrate.log" 2>&1 \
    || { tail -20 "$AIRFLOW_HOME/migrate.log" >&2; exit 1; }
  touch "$stamp"
fi
