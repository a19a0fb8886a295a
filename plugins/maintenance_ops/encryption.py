"""Encryption at rest for backups, with a key held in an Airflow connection.

Every backup file is encrypted by ``openssl enc`` (AES-256-CTR, key derived from the secret by
PBKDF2) and gets an ``.enc`` suffix; the manifest stays readable (it names tables, not data)
and is signed as a whole with an HMAC whose key is derived from the secret by PBKDF2 with its
own salt, so swapped or altered files, coordinates or counts are caught, and the signature is
no faster to guess the secret from than the files. The secret is the ``password`` of the
connection named by ``backup.encryption_conn_id``. It reaches ``openssl`` through a pipe
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
from maintenance_ops.pipes import secret_pipe

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
    if "\n" in conn.password or "\r" in conn.password:
        # openssl reads one line from the pipe: a line break would silently shorten the key.
        raise ConfigError(
            f"the key in connection {conn_id!r} contains a line break; use one line "
            "(e.g. `openssl rand -base64 32`)"
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


def _openssl(secret: str, *, decrypt: bool, src: Path, dst: Path) -> None:
    if shutil.which("openssl") is None:
        raise ConfigError("openssl is not installed; install the openssl package to encrypt")
    with secret_pipe(secret.encode() + b"\n") as fd:
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
        manifest_path = copy / MANIFEST_NAME
        if manifest_path.exists():
            manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
            manifest_path.write_text(
                json.dumps(plaintext_manifest(manifest, copy), indent=2), encoding="utf-8"
            )
        yield copy
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _mac_key(secret: str, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, PBKDF2_ITERATIONS)


def _signed_content(manifest: dict[str, Any]) -> bytes:
    """Return the canonical bytes of a manifest without its signature."""
    unsigned = dict(manifest)
    unsigned["encryption"] = {
        k: v for k, v in (manifest.get("encryption") or {}).items() if k != "signature"
    }
    return json.dumps(unsigned, sort_keys=True, separators=(",", ":"), default=str).encode()


def sign_manifest(manifest: dict[str, Any], secret: str) -> dict[str, Any]:
    """Mark ``manifest`` encrypted and sign all of it; return it."""
    salt = os.urandom(16)
    manifest["encrypted"] = True
    manifest["encryption"] = {
        "cipher": CIPHER,
        "kdf": "pbkdf2-sha256",
        "iterations": PBKDF2_ITERATIONS,
        "suffix": SUFFIX,
        "mac": "hmac-sha256 over the manifest, key pbkdf2-sha256(secret, mac_salt)",
        "mac_salt": salt.hex(),
    }
    mac = hmac.new(_mac_key(secret, salt), _signed_content(manifest), hashlib.sha256)
    manifest["encryption"]["signature"] = mac.hexdigest()
    return manifest


def signature_ok(manifest: dict[str, Any], secret: str) -> bool:
    """Whether the manifest was signed with ``secret`` and not changed since."""
    info = manifest.get("encryption") or {}
    try:
        salt = bytes.fromhex(str(info.get("mac_salt") or ""))
    except ValueError:
        return False
    if not salt:
        return False
    mac = hmac.new(_mac_key(secret, salt), _signed_content(manifest), hashlib.sha256)
    return hmac.compare_digest(str(info.get("signature") or ""), mac.hexdigest())


def plaintext_manifest(manifest: dict[str, Any], copy: Path) -> dict[str, Any]:
    """Return the manifest of a decrypted copy: its files as they are now, not encrypted."""
    from maintenance_ops.backup import _file_table

    plain = {k: v for k, v in manifest.items() if k not in ("encryption", "files")}
    plain.update(encrypted=False, files=_file_table(copy), decrypted_copy=True)
    return plain
