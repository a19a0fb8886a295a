"""A local S3-compatible server for tests: moto's server mode on 127.0.0.1, one bucket.

Usage::

    with s3_bucket(monkeypatch) as s3:
        location = s3.url("backups")          # s3://<conn_id>@<bucket>/backups
        s3.keys("backups/")                  # what landed in the bucket (boto3, not the code)

The server runs in this process (``ThreadedMotoServer``) on a free loopback port and is
stopped on exit. The bucket is reached through an Airflow connection of type ``aws`` with
``endpoint_url`` in its extra (``AIRFLOW_CONN_<ID>``), exactly as a deployment configures a
MinIO or Ceph endpoint. Credentials are fake, and every ``AWS_*`` variable that could send a
request to real AWS (a profile, a session token, a config file, instance metadata) is
replaced or removed for the test's duration.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

ACCESS_KEY = "mmc-test-access-key"
SECRET_KEY = "mmc-test-secret-key"
REGION = "us-east-1"
# Variables that would point boto at a real account or endpoint.
_AWS_LEAKS = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_S3",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
)


@dataclass
class S3Bucket:
    """A bucket on a running moto server, and the Airflow connection that reaches it."""

    endpoint: str
    bucket: str
    conn_id: str

    def url(self, prefix: str) -> str:
        """Return the ``ObjectStoragePath`` URL of ``prefix`` in the bucket, with the connection."""
        return f"s3://{self.conn_id}@{self.bucket}/{prefix.strip('/')}"

    def client(self) -> Any:
        """Return a boto3 S3 client on the moto server (to check what the code wrote)."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def keys(self, prefix: str = "") -> list[str]:
        """Return every object key under ``prefix``, sorted."""
        pages = (
            self.client()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.bucket, Prefix=prefix)
        )
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def get(self, key: str) -> bytes:
        """Return one object's bytes."""
        return bytes(self.client().get_object(Bucket=self.bucket, Key=key)["Body"].read())

    def put(self, key: str, body: bytes) -> None:
        """Write one object."""
        self.client().put_object(Bucket=self.bucket, Key=key, Body=body)


@contextlib.contextmanager
def s3_bucket(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Bucket]:
    """Start moto's S3 server on a free loopback port with one bucket; stop it on exit."""
    from moto.server import ThreadedMotoServer

    for name in _AWS_LEAKS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    requests_log = logging.getLogger("werkzeug")  # one INFO line per request otherwise
    level = requests_log.level
    requests_log.setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        # A connection id per server: Airflow caches object-storage filesystems by conn id, so
        # a reused id would reach the previous test's (stopped) server.
        tag = uuid.uuid4().hex[:12]
        s3 = S3Bucket(f"http://{host}:{port}", f"mmc-{tag}", f"mmc_s3_{tag}")
        monkeypatch.setenv(
            f"AIRFLOW_CONN_{s3.conn_id.upper()}",
            json.dumps(
                {
                    "conn_type": "aws",
                    "login": ACCESS_KEY,
                    "password": SECRET_KEY,
                    "extra": {"endpoint_url": s3.endpoint, "region_name": REGION},
                }
            ),
        )
        s3.client().create_bucket(Bucket=s3.bucket)
        yield s3
    finally:
        server.stop()
        requests_log.setLevel(level)
