"""The credentials path: the option-file writer and the pipe, read back by the real client."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from maintenance_ops.exceptions import ConfigError
from maintenance_ops.pipes import option_file, secret_pipe
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
