"""The code pasted in chat works wherever a file does: `ra connect` and
`ra invite inspect` take a file, a ``ra1:`` code, or ``-`` (standard input),
with real processes on loopback and the password asked on the terminal or
read from the line after the invitation."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from support import stop

PASSWORD = "correct horse battery staple 42"
T = 15


def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "RA_HOME": str(home), "RA_LOG_LEVEL": "warning",
            "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}


def _ra(home: Path, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ra", *args], input=input,
                          capture_output=True, text=True, env=_env(home), timeout=60)


def _create(home: Path, tmp: Path) -> dict[str, str]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    result = _ra(home, "invite", "create", "--name", "Alice", "--password-stdin", "--code",
                 "--save", str(tmp / "help.rainv"), "--host", "127.0.0.1", "--port", str(port),
                 "--json", input=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    made: dict[str, str] = json.loads(result.stdout)
    return made


@pytest.fixture
def children() -> Iterator[list[pexpect.spawn]]:
    spawned: list[pexpect.spawn] = []
    yield spawned
    stop(spawned)


def _spawn(home: Path, command: str) -> pexpect.spawn:
    """`command` run by the shell on a pty (so a pipe can feed stdin while /dev/tty stays)."""
    child = pexpect.spawn("/bin/sh", ["-c", command], env=_env(home), encoding="utf-8",
                          timeout=T, dimensions=(50, 400))
    child.logfile_read = sys.stdout
    return child


RA = f"{shlex.quote(sys.executable)} -m ra"


@pytest.mark.parametrize("how", ["code argument", "stdin code+password",
                                 "stdin file, tty password"])
def test_connect_takes_the_code_or_stdin(tmp_path: Path, children: list[pexpect.spawn],
                                         how: str) -> None:
    person_home, helper_home = tmp_path / "person", tmp_path / "helper"
    made = _create(person_home, tmp_path)
    code, file = made["code"], tmp_path / "help.rainv"
    (tmp_path / "code.txt").write_text(f"{code}\n{PASSWORD}\n")
    person = _spawn(person_home, f"{RA} ask {made['id']} --host 127.0.0.1")
    children.append(person)
    person.expect(r"listening on 127\.0\.0\.1:\d+")
    if how == "code argument":
        helper = _spawn(helper_home, f"{RA} connect {code} --no-browser")
        children.append(helper)
        helper.expect("Invitation password")
        helper.sendline(PASSWORD)
    elif how == "stdin code+password":
        helper = _spawn(helper_home, f"{RA} connect - --password-stdin --no-browser "
                                     f"< {shlex.quote(str(tmp_path / 'code.txt'))}")
        children.append(helper)
    else:
        helper = _spawn(helper_home, f"cat {shlex.quote(str(file))} | {RA} connect - "
                                     "--no-browser")
        children.append(helper)
        helper.expect("Invitation password")  # asked on the terminal, not on the pipe
        helper.sendline(PASSWORD)
    # No display here: the session is chat only, said to the person once the helper is in.
    person.expect("You can still chat")
    helper.expect("password accepted")
    # The helper's own input may be the spent pipe: the person ends the session.
    person.sendline("/disconnect")
    person.expect("session .* ended")
    helper.expect(pexpect.EOF)


def test_connect_from_stdin_without_a_terminal_says_how_in_one_line(tmp_path: Path) -> None:
    made = _create(tmp_path / "person", tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "ra", "connect", "-", "--no-browser"], input=made["code"] + "\n",
        capture_output=True, text=True, env=_env(tmp_path / "helper"), timeout=60,
        start_new_session=True,  # no controlling terminal: /dev/tty cannot be opened
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--password-stdin" in result.stderr


def test_connect_with_nothing_on_stdin_is_one_line(tmp_path: Path) -> None:
    result = _ra(tmp_path / "helper", "connect", "-", "--password-stdin", input="")
    assert result.returncode == 2
    assert result.stderr == "ra: no invitation on standard input (give a file, a ra1: code, " \
                            "or '-')\n"


def test_inspect_takes_the_code_and_stdin(tmp_path: Path) -> None:
    home = tmp_path / "person"
    made = _create(home, tmp_path)
    file = tmp_path / "help.rainv"
    shown = [
        _ra(home, "invite", "inspect", str(file), "--json"),
        _ra(home, "invite", "inspect", made["code"], "--json"),
        _ra(home, "invite", "inspect", "-", "--json", input=made["code"] + "\n"),
        _ra(home, "invite", "inspect", "-", "--json", input=file.read_text()),
    ]
    assert [r.returncode for r in shown] == [0, 0, 0, 0], [r.stderr for r in shown]
    assert len({r.stdout for r in shown}) == 1
    assert json.loads(shown[0].stdout)["id"] == made["id"]
