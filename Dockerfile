# The Airflow image with this package's library and its providers baked in; dags/, plugins/
# and include/ are mounted by docker-compose.yaml so edits show up without a rebuild.
FROM apache/airflow:3.3.2-python3.11

USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends libmariadb-dev pkg-config build-essential \
        mariadb-client mariadb-backup mydumper zstd \
 && rm -rf /var/lib/apt/lists/*
USER airflow

COPY --chown=airflow:root pyproject.toml README.md /opt/mmc/
COPY --chown=airflow:root plugins /opt/mmc/plugins
RUN pip install --no-cache-dir "apache-airflow==3.3.2" /opt/mmc
