"""Encryption at rest for backups, with a key held in an Airflow connection.

Every backup file is encrypted by ``openssl enc`` (AES-256-CTR, key derived from the secret by
PBKDF2) and gets an ``.enc`` suffix; the manifest stays readable (it names tables, not data)
and carries an HMAC of the file checksums made with the same secret, so swapped or altered
files are caught even if someone also edits the checksums. The secret is the ``password`` of
the connection named by ``backup.encryption_conn_id``. It reaches ``openssl`` through a pipe
(``-pass fd:N``), never the command line, a file or a log.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from maintenance_ops.exceptions import ConfigError, VerificationError

SUFFIX = ".enc"
CIPHER = "aes-256-ctr"
# The secret should be long and random; PBKDF2 only slows guessing of a weak one.
PBKDF2_ITERATIONS = 100_000
DECRYPTED_PREFIX = "mmc-decrypted-"
MANIFEST_NAME = "manifest.json"


def backup_secret(conn_id: str) -> str:
    """Return the encryption secret: the password of Airflow connection ``conn_id``."""
    from airflow.exceptions import AirflowNotFoundException
    from airflow.sdk import BaseHook

    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        raise ConfigError(
            f"backup encryption connection {conn_id!r} is not defined; create it with the key "
            f"as its password, e.g. AIRFLOW_CONN_{conn_id.upper()}='generic://:KEY@'"
        ) from None
    if not conn.password:
        raise ConfigError(
            f"backup encryption connection {conn_id!r} has no password; put the key there "
            "(a long random string, e.g. `openssl rand -base64 32`)"
        )
    return str(conn.password)


def openssl_command(password_fd: int, *, decrypt: bool, src: Path, dst: Path) -> list[str]:
    """Return the ``openssl enc`` command for one file (pure; the secret comes from a pipe)."""
    return [
        "openssl",
        "enc",
        f"-{CIPHER}",
        *(["-d"] if decrypt else ["-salt"]),
        "-pbkdf2",
        "-iter",
        str(PBKDF2_ITERATIONS),
        "-pass",
        f"fd:{password_fd}",
        "-in",
        str(src),
        "-out",
        str(dst),
    ]


@contextlib.contextmanager
def _secret_pipe(secret: str) -> Iterator[int]:
    read_fd, write_fd = os.pipe()
    try:
        os.write(write_fd, secret.encode() + b"\n")
        os.close(write_fd)
        write_fd = -1
        yield read_fd
    finally:
        for fd in (read_fd, write_fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)


def _openssl(secret: str, *, decrypt: bool, src: Path, dst: Path) -> None:
    if shutil.which("openssl") is None:
        raise ConfigError("openssl is not installed; install the openssl package to encrypt")
    with _secret_pipe(secret) as fd:
        done = subprocess.run(
            openssl_command(fd, decrypt=decrypt, src=src, dst=dst),
            pass_fds=(fd,),
            capture_output=True,
            check=False,
        )
    if done.returncode != 0:
        dst.unlink(missing_ok=True)
        what = "decrypt" if decrypt else "encrypt"
        raise VerificationError(
            f"cannot {what} {src}: openssl exited with {done.returncode}: "
            f"{done.stderr.decode(errors='replace').strip()[-300:] or '(no output)'}"
        )


def encrypt_tree(root: Path, secret: str) -> int:
    """Encrypt every file under ``root`` (except the manifest) in place; return how many."""
    count = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST_NAME):
        _openssl(secret, decrypt=False, src=path, dst=path.with_name(path.name + SUFFIX))
        path.unlink()
        count += 1
    return count


def decrypt_tree(src_root: Path, dst_root: Path, secret: str) -> int:
    """Write decrypted copies of the ``.enc`` files under ``src_root`` into ``dst_root``."""
    count = 0
    for path in sorted(p for p in src_root.rglob("*") if p.is_file()):
        relative = path.relative_to(src_root)
        target = dst_root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.name.endswith(SUFFIX):
            _openssl(
                secret, decrypt=True, src=path, dst=target.with_name(path.name[: -len(SUFFIX)])
            )
            count += 1
        else:
            shutil.copy2(path, target)
    return count


@contextlib.contextmanager
def decrypted_copy(backup_path: Path, secret: str, base_dir: Path | None = None) -> Iterator[Path]:
    """Yield a private decrypted copy of a backup folder, removed afterwards.

    The folder's name carries this process's id, so ``cleanup_restore_leftovers`` can remove
    the copy of a killed run.
    """
    if base_dir is not None:
        base_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{DECRYPTED_PREFIX}{os.getpid()}-", dir=base_dir))
    try:
        os.chmod(folder, 0o700)
        copy = folder / backup_path.name
        decrypt_tree(backup_path, copy, secret)
        yield copy
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def files_signature(files: dict[str, Any], secret: str) -> str:
    """Return the HMAC-SHA256 of a manifest's file table (names, sizes, checksums)."""
    canonical = json.dumps(files, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(secret.encode(), canonical, hashlib.sha256).hexdigest()


def encryption_info(files: dict[str, Any], secret: str) -> dict[str, Any]:
    """Return the manifest's ``encryption`` entry: how to decrypt, and the files' HMAC."""
    return {
        "cipher": CIPHER,
        "kdf": "pbkdf2-sha256",
        "iterations": PBKDF2_ITERATIONS,
        "suffix": SUFFIX,
        "files_hmac": files_signature(files, secret),
    }


def signature_ok(manifest: dict[str, Any], secret: str) -> bool:
    """Whether the manifest's file table was signed with ``secret`` and not changed since."""
    expected = str((manifest.get("encryption") or {}).get("files_hmac") or "")
    return hmac.compare_digest(expected, files_signature(manifest.get("files") or {}, secret))
