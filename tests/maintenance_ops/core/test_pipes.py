"""The credentials path: the option-file writer and the pipe, read back by the real client."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from maintenance_ops.core.exceptions import ConfigError
from maintenance_ops.core.pipes import option_file, read_option_password, secret_pipe
from tests.conftest import Target
from tests.support.accounts import PASSWORD


def test_option_file_quotes_every_value() -> None:
    text = option_file(
        {"user": "m#1", "password": 'a"b\\c;d', "host": "h", "port": 3307, "socket": None},
        ("client", "mydumper"),
    ).decode()
    body = 'user="m#1"\npassword="a\\"b\\\\c;d"\nhost="h"\nport="3307"\n'
    assert text == f"[client]\n{body}[mydumper]\n{body}"


@pytest.mark.parametrize(
    "password",
    [
        pytest.param("pw\nhost=evil.example", id="newline-injects-an-option"),
        pytest.param("pw\r\n[mysqld]", id="carriage-return-group"),
        pytest.param("pw\x00tail", id="nul-truncates"),
    ],
)
def test_option_file_refuses_line_breaks_without_showing_the_value(password: str) -> None:
    with pytest.raises(ConfigError) as info:
        option_file({"user": "m", "password": password})
    assert "line break or NUL" in str(info.value)
    assert password.split("\n")[0].split("\x00")[0] not in str(info.value).replace("password", "")


@pytest.mark.parametrize(
    ("options", "groups"),
    [
        pytest.param({"pass word": "x"}, ("client",), id="name-with-space"),
        pytest.param({"user": "m"}, ("client]\n[mysqld",), id="group-injection"),
        pytest.param({"!include": "/etc/x"}, ("client",), id="directive"),
    ],
)
def test_option_file_refuses_option_syntax_in_names(options: dict, groups: tuple) -> None:
    with pytest.raises(ConfigError):
        option_file(options, groups)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param("!include /etc/passwd", id="include-directive"),
        pytest.param("[mysqld]", id="group-line"),
        pytest.param("  spaces  ", id="surrounding-spaces"),
        pytest.param("a\\nb\\tc\\sd", id="escape-sequences"),
    ],
)
def test_option_values_read_back_as_written(value: str) -> None:
    """my_print_defaults (the servers' own option parser) reads each value back unchanged."""
    tool = shutil.which("my_print_defaults") or shutil.which("mariadb-print-defaults")
    assert tool, "my_print_defaults ships with the MariaDB/MySQL client"
    with secret_pipe(option_file({"password": value, "user": "u"})) as fd:
        out = subprocess.run(
            [tool, f"--defaults-file=/dev/fd/{fd}", "client"],
            pass_fds=(fd,),
            capture_output=True,
            text=True,
            check=True,
        ).stdout.splitlines()
    assert out == [f"--password={value}", "--user=u"]


def test_client_logs_in_with_a_hostile_password_through_the_pipe(target: Target) -> None:
    assert target.account is not None and target.account.password == PASSWORD
    options = {
        "user": target.account.user,
        "password": target.account.password,
        "host": target.account.host,
        "port": target.account.port,
    }
    with secret_pipe(option_file(options)) as fd:
        done = subprocess.run(
            ["mariadb", f"--defaults-file=/dev/fd/{fd}", "-N", "-e", "SELECT CURRENT_USER()"],
            pass_fds=(fd,),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{target.account.user}@%"


def _backup_file_writer(password: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    from maintenance_ops.recovery.backup import credentials_file

    conn = {"conn_type": "mysql", "host": "127.0.0.1", "login": "m", "password": password}
    monkeypatch.setenv("AIRFLOW_CONN_MMC_NEWLINE", json.dumps(conn))
    with credentials_file("mmc_newline"):
        raise AssertionError("the option file was written")


def _backup_text_writer(password: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from maintenance_ops.core.session import Endpoint
    from maintenance_ops.recovery.backup import tool_option_file

    tool_option_file(Endpoint("c", "127.0.0.1", 3306), "m", password)


def _client_writer(password: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from maintenance_ops.recovery.restore import ClientEndpoint

    ClientEndpoint(user="m", password=password).option_file("myloader")


def _myloader_file_writer(password: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from maintenance_ops.recovery.restore import ClientEndpoint, _credentials_file

    with _credentials_file(ClientEndpoint(user="m", password=password), "myloader"):
        raise AssertionError("the option file was written")


@pytest.mark.parametrize(
    "writer",
    [
        pytest.param(_backup_file_writer, id="backup-credentials-file"),
        pytest.param(_backup_text_writer, id="backup-tool-option-file"),
        pytest.param(_client_writer, id="restore-client-endpoint"),
        pytest.param(_myloader_file_writer, id="restore-myloader-file"),
    ],
)
@pytest.mark.parametrize(
    "password",
    [
        pytest.param("s3cret\n[client]\nuser=root", id="newline"),
        pytest.param("s3cret\rx", id="carriage-return"),
        pytest.param("s3cret\x00x", id="nul"),
    ],
)
def test_every_option_file_path_refuses_a_line_break(
    writer: Any, password: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Backups and restores write option files only through option_file: one refusal for all."""
    import os
    import tempfile

    before = set(Path(tempfile.gettempdir()).glob(f"mmc-*-cred-{os.getpid()}-*"))
    with pytest.raises(ConfigError, match="line break or NUL") as info:
        writer(password, monkeypatch)
    assert "s3cret" not in str(info.value)
    assert set(Path(tempfile.gettempdir()).glob(f"mmc-*-cred-{os.getpid()}-*")) == before


def test_private_option_file_is_private_pid_tagged_and_removed() -> None:
    import os

    from maintenance_ops.core.pipes import private_option_file

    with pytest.raises(RuntimeError), private_option_file(b"[client]\n", "mmc-test-cred-") as path:
        assert path.name.startswith(f"mmc-test-cred-{os.getpid()}-") and path.suffix == ".cnf"
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        assert path.read_bytes() == b"[client]\n"
        raise RuntimeError("the caller failed")
    assert not path.exists()


@pytest.mark.parametrize("value", [PASSWORD, "a\\nb", "plain", '"', "\\"])
def test_read_option_password_undoes_the_writers_quoting(tmp_path: Path, value: str) -> None:
    path = tmp_path / "root.cnf"
    path.write_bytes(option_file({"user": "root", "password": value}) + b"[other]\npassword=x\n")
    assert read_option_password(path) == value
    assert read_option_password(path, "other") == "x"
    path.write_bytes(option_file({"user": "root"}))
    assert read_option_password(path) is None


def test_read_option_password_names_an_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read option file .*missing.cnf"):
        read_option_password(tmp_path / "missing.cnf")
