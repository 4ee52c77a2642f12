"""`ra ask` listens where the invitation tells the helper to connect, and says
in one line when it cannot: real `ra ask` and `ra connect` processes on loopback."""

from __future__ import annotations

import json
import os
import socket
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ra(home: Path, *args: str, input: str | None = None,
        timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ra", *args], input=input,
                          capture_output=True, text=True, env=_env(home), timeout=timeout)


def _create(home: Path, file: Path, port: int) -> str:
    result = _ra(home, "invite", "create", "--name", "Alice", "--password-stdin",
                 "--save", str(file), "--host", "127.0.0.1", "--port", str(port), "--json",
                 input=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    return str(json.loads(result.stdout)["id"])


@pytest.fixture
def children() -> Iterator[list[pexpect.spawn]]:
    spawned: list[pexpect.spawn] = []
    yield spawned
    stop(spawned)


def _spawn(home: Path, *args: str) -> pexpect.spawn:
    child = pexpect.spawn(sys.executable, ["-m", "ra", *args], env=_env(home),
                          encoding="utf-8", timeout=T, dimensions=(50, 400))
    child.logfile_read = sys.stdout
    return child


def test_ask_refuses_a_port_the_invitation_does_not_carry(
    tmp_path: Path, children: list[pexpect.spawn]
) -> None:
    person_home, helper_home = tmp_path / "person", tmp_path / "helper"
    carried, other = _free_port(), _free_port()
    inv_id = _create(person_home, tmp_path / "help.rainv", carried)

    named = _ra(person_home, "ask", inv_id, "--host", "127.0.0.1", "--port", str(other))
    assert named.returncode == 2
    assert named.stderr.count("\n") == 1 and named.stderr.startswith("ra: ")
    assert f"port {carried}, not {other}" in named.stderr
    assert f"ra invite create --port {other}" in named.stderr

    unnamed = _ra(person_home, "ask", "--host", "127.0.0.1", "--port", str(other))
    assert unnamed.returncode == 2
    assert unnamed.stderr == (f"ra: no open invitation tells the helper to connect to port "
                              f"{other}: make one with `ra invite create --port {other}`\n")

    # The port it carries is served, and the helper who dials it gets in.
    person = _spawn(person_home, "ask", "--terminal", "--host", "127.0.0.1", "--port",
                    str(carried))
    children.append(person)
    person.expect(rf"listening on 127\.0\.0\.1:{carried}\r\n")
    helper = _spawn(helper_home, "connect", str(tmp_path / "help.rainv"), "--password-stdin",
                    "--no-browser")
    children.append(helper)
    helper.sendline(PASSWORD)
    # In: asked to let the helper see the screen, or told it is chat only without a display.
    person.expect(["asks to see your screen", "You can still chat"])
    helper.expect("password accepted")


def test_a_port_in_use_is_named_in_one_line(tmp_path: Path) -> None:
    home = tmp_path / "person"
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = int(holder.getsockname()[1])
        inv_id = _create(home, tmp_path / "help.rainv", port)
        result = _ra(home, "ask", inv_id, "--host", "127.0.0.1")
    assert result.returncode == 1
    assert result.stderr == f"ra: port {port} on 127.0.0.1 is in use by another program\n"
