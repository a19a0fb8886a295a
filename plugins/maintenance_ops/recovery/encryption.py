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
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from maintenance_ops.core import processes
from maintenance_ops.core.exceptions import ConfigError, VerificationError
from maintenance_ops.core.pipes import secret_pipe

SUFFIX = ".enc"
CIPHER = "aes-256-ctr"
# The secret should be long and random; PBKDF2 only slows guessing of a weak one.
PBKDF2_ITERATIONS = 100_000
DECRYPTED_PREFIX = "mmc-decrypted-"
MANIFEST_NAME = "manifest.json"
OPENSSL_TIMEOUT_S = 6 * 3600.0


def backup_secret(conn_id: str) -> str:
    """Return the encryption secret: the password of Airflow connection ``conn_id``."""
    from maintenance_ops.core.connections import ConnectionNotDefined, get_connection

    try:
        conn = get_connection(conn_id, example="--conn-type generic")
    except ConnectionNotDefined as exc:
        raise ConfigError(
            f"backup encryption key: {exc} (the key is the connection's password, e.g. "
            f"AIRFLOW_CONN_{conn_id.upper()}='generic://:KEY@')"
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


def openssl_command(password_fd: int, *, decrypt: bool, src: Path | None, dst: Path) -> list[str]:
    """Return the ``openssl enc`` command for one file (pure; the secret comes from a pipe).

    :param src: the file to read; None reads stdin (decryption: Python feeds and hashes it).
    """
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
        *(["-in", str(src)] if src is not None else []),
        "-out",
        str(dst),
    ]


def _require_openssl() -> None:
    if shutil.which("openssl") is None:
        raise ConfigError("openssl is not installed; install the openssl package to encrypt")


def _encrypt(secret: str, src: Path, dst: Path) -> None:
    _require_openssl()
    with secret_pipe(secret.encode() + b"\n") as fd:
        try:
            processes.run(
                openssl_command(fd, decrypt=False, src=src, dst=dst),
                f"encryption of {src}",
                timeout_s=OPENSSL_TIMEOUT_S,
                pass_fds=(fd,),
                error=VerificationError,
            )
        except BaseException:
            dst.unlink(missing_ok=True)
            raise


def _decrypt_hashed(
    secret: str, src: Path, dst: Path, relative: str, expected: dict[str, Any]
) -> None:
    """Decrypt ``src`` into ``dst``, hashing the very bytes openssl reads (no swap window).

    :raises VerificationError: naming the file when its size or sha256 is not the manifest's.
    """
    _require_openssl()
    digest = hashlib.sha256()
    size = 0
    read_fd, write_fd = os.pipe()
    try:
        with secret_pipe(secret.encode() + b"\n") as fd:
            pipeline = processes.Pipeline(
                [processes.Stage(openssl_command(fd, decrypt=True, src=None, dst=dst),
                                 stdin=read_fd, pass_fds=(fd,))],
                f"decryption of {relative}",
                timeout_s=OPENSSL_TIMEOUT_S,
                error=VerificationError,
                side_fds=(read_fd,),
            )  # fmt: skip
            with pipeline:
                with contextlib.suppress(BrokenPipeError), open(src, "rb") as f:
                    with os.fdopen(write_fd, "wb") as sink:
                        write_fd = -1
                        while chunk := f.read(1 << 20):
                            digest.update(chunk)
                            size += len(chunk)
                            sink.write(chunk)
                pipeline.wait()  # a failed openssl is reported, naming the file
    except BaseException:
        dst.unlink(missing_ok=True)
        raise
    finally:
        if write_fd >= 0:
            os.close(write_fd)
    problem = _mismatch(relative, size, digest.hexdigest(), expected)
    if problem is not None:
        dst.unlink(missing_ok=True)
        raise VerificationError(
            f"{problem} while it was decrypted: the backup changed since it "
            "was written (or since it was verified); nothing from it is used"
        )


def _mismatch(relative: str, size: int, sha256: str, expected: dict[str, Any]) -> str | None:
    want = expected.get("bytes")
    if want is not None and size != want:
        return f"{relative} is {size} bytes, the signed manifest says {want}"
    if sha256 != expected.get("sha256"):
        signed = expected.get("sha256")
        return f"{relative} fails its checksum (sha256 {sha256}, signed manifest {signed})"
    return None


def encrypt_tree(root: Path, secret: str) -> int:
    """Encrypt every file under ``root`` (except the manifest) in place; return how many."""
    count = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.name != MANIFEST_NAME):
        _encrypt(secret, path, path.with_name(path.name + SUFFIX))
        path.unlink()
        count += 1
    return count


def unlisted_files(root: Path, manifest: dict[str, Any]) -> list[str]:
    """Return files under ``root`` that the manifest does not list (besides itself), sorted."""
    listed = set(manifest.get("files") or {}) | {MANIFEST_NAME}
    found = (p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
    return sorted(name for name in found if name not in listed)


def decrypt_tree(src_root: Path, dst_root: Path, secret: str, manifest: dict[str, Any]) -> int:
    """Write decrypted copies of the files the signed manifest lists into ``dst_root``.

    Only listed files are read, each hashed while it is decrypted; any other file in the
    folder (a plaintext ``*-schema-create.sql`` added beside the encrypted ones, say) is a
    failure naming it, before anything is decrypted.

    :raises VerificationError: naming an unlisted, unencrypted, missing or changed file.
    """
    if not signature_ok(manifest, secret):
        raise VerificationError(
            f"the manifest of {src_root} is not signed with this key: nothing is decrypted"
        )
    extra = unlisted_files(src_root, manifest)
    if extra:
        raise VerificationError(
            f"{src_root} holds files its signed manifest does not list: {', '.join(extra)}; "
            "they were added after the backup and are not read: remove them"
        )
    files: dict[str, dict[str, Any]] = manifest.get("files") or {}
    plain = sorted(name for name in files if not name.endswith(SUFFIX))
    if plain:
        raise VerificationError(
            f"the signed manifest of {src_root} lists unencrypted files: {', '.join(plain)}"
        )
    for relative, expected in sorted(files.items()):
        path = src_root / relative
        if not path.is_file():
            raise VerificationError(f"{relative} is missing from {src_root}")
        target = (dst_root / relative).with_name(path.name[: -len(SUFFIX)])
        target.parent.mkdir(parents=True, exist_ok=True)
        _decrypt_hashed(secret, path, target, relative, expected)
    return len(files)


@contextlib.contextmanager
def decrypted_copy(backup_path: Path, secret: str, base_dir: Path | None = None) -> Iterator[Path]:
    """Yield a private decrypted copy of a backup folder, removed afterwards.

    Only the files its signed manifest lists are read, each hashed while it is decrypted
    (:func:`decrypt_tree`).

    The folder's name carries this process's id, so ``cleanup_restore_leftovers`` can remove
    the copy of a killed run.
    """
    if base_dir is not None:
        base_dir.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix=f"{DECRYPTED_PREFIX}{os.getpid()}-", dir=base_dir))
    try:
        os.chmod(folder, 0o700)
        copy = folder / backup_path.name
        # The manifest is read once: the files are checked against what was read and signed.
        manifest = json.loads((backup_path / MANIFEST_NAME).read_text(encoding="utf-8"))
        decrypt_tree(backup_path, copy, secret, manifest)
        (copy / MANIFEST_NAME).write_text(
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
    from maintenance_ops.recovery.backup import _file_table

    plain = {k: v for k, v in manifest.items() if k not in ("encryption", "files")}
    plain.update(encrypted=False, files=_file_table(copy), decrypted_copy=True)
    return plain
