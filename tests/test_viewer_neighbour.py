"""Another local account against the helper's viewer: no token to find, no way in.

The tests run as root; the other account is ``nobody``, run through
``setpriv``. `ra ask` and `ra connect` run for real on loopback, and
`ra connect` opens its viewer through ``$BROWSER``: a stand-in browser that
writes down what it was given and does not return until the test lets it (a
browser command that never returns must not hold up the session). The real
page is then opened, as a user would, from the file `ra connect` gave the
browser, in headless Chromium.
"""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pexpect
import pytest
from desktop_support import Display
from playwright.sync_api import Browser, Page, Playwright, sync_playwright
from support import stop

from ra.engine.session import PEER_TIMEOUT_S
from ra.viewer.opener import OpenerError, opener_html, private_folder, write_opener
from ra.viewer.peer import peer_uids, refusal

PASSWORD = "correct horse battery staple 42"
T = 20  # seconds for any one expected line or page state
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
NOBODY = 65534
VIEWER_URL = re.compile(r"http://127\.0\.0\.1:(\d+)/v/([A-Za-z0-9_-]+)")

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as nobody")

#: What another account does: look for a viewer address in every command line
#: and environment it may read, read the opener file, and connect to the viewer
#: with a forged Origin and the right token. Its findings go out as JSON.
ATTACKER = r'''
import json, os, re, socket, sys

opener, port = sys.argv[1], int(sys.argv[2])
token = sys.stdin.read().strip()  # given on stdin: on the command line, all could read it
address = re.compile(rb"/v/[A-Za-z0-9_-]{20,}")
report = {"uid": os.getuid(), "found": [], "opener": None, "answers": {}}
for pid in os.listdir("/proc"):
    if pid.isdigit():
        for name in ("cmdline", "environ"):
            try:
                with open(f"/proc/{pid}/{name}", "rb") as f:
                    data = f.read()
            except OSError:
                continue
            if address.search(data) or token.encode() in data:
                report["found"].append(f"/proc/{pid}/{name}")
try:
    with open(opener, "rb") as f:
        report["opener"] = "read" if token.encode() in f.read() else "read, no token"
except OSError as exc:
    report["opener"] = type(exc).__name__

origin = f"http://127.0.0.1:{port}"
requests = {
    "page": f"GET /v/{token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {origin}\r\n\r\n",
    "websocket": (f"GET /ws/{token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: {origin}\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"),
}
for name, request in requests.items():
    got = b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(request.encode())
            while chunk := sock.recv(65536):
                got += chunk
        outcome = "closed"
    except ConnectionResetError:
        outcome = "reset"
    except OSError as exc:
        outcome = type(exc).__name__
    report["answers"][name] = {"outcome": outcome, "bytes": got.decode("latin-1")}
print(json.dumps(report))
'''

#: A browser command that writes down its arguments and does not return until
#: the test creates the release file.
BROWSER = """#!/bin/sh
exec </dev/null >/dev/null 2>&1
printf '%s\\n' "$@" > {record}.tmp && mv {record}.tmp {record}
while [ ! -e {release} ]; do sleep 0.1; done
"""


# -- helpers -------------------------------------------------------------------------


@dataclass
class Pair:
    person: pexpect.spawn
    helper: pexpect.spawn
    target: str  # what the browser command was given
    runtime: Path  # the helper's $XDG_RUNTIME_DIR
    release: Path  # created to let the browser command return


@pytest.fixture
def base() -> Iterator[Path]:
    """A scratch folder other accounts may enter (the tmp_path of root is closed to them)."""
    folder = Path(tempfile.mkdtemp(prefix="ra-neighbour-"))
    folder.chmod(0o755)
    yield folder
    subprocess.run(["rm", "-rf", str(folder)], check=False)


@pytest.fixture
def children() -> Iterator[list[pexpect.spawn]]:
    spawned: list[pexpect.spawn] = []
    yield spawned
    stop(spawned)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items()
           if key not in ("DISPLAY", "BROWSER", "XDG_RUNTIME_DIR")}
    return {**env, "RA_HOME": str(home), "RA_LOG_LEVEL": "warning", "PYTHONUNBUFFERED": "1",
            "COLUMNS": "300", **extra}


def _wait_for(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + T
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _start(base: Path, children: list[pexpect.spawn], display: Display) -> Pair:
    """`ra ask` sharing `display` (without one a session is chat only), then `ra connect`
    with the stand-in browser; waits for the browser's start."""
    person_home, helper_home = base / "person", base / "helper"
    runtime = base / "runtime"
    runtime.mkdir(mode=0o700)
    record, release = base / "browser-args", base / "browser-release"
    browser = base / "browser.sh"
    browser.write_text(BROWSER.format(record=record, release=release))
    browser.chmod(0o755)
    file = base / "help.rainvitation"
    made = subprocess.run(
        [sys.executable, "-m", "ra", "invite", "create", "--name", "Alice", "--password-stdin",
         "--save", str(file), "--host", "127.0.0.1", "--port", str(_free_port()), "--json"],
        input=PASSWORD + "\n", capture_output=True, text=True, env=_env(person_home),
        timeout=60, check=True)
    invitation = json.loads(made.stdout)["id"]
    person = pexpect.spawn(sys.executable, ["-m", "ra", "ask", invitation, "--terminal",
                                            "--host", "127.0.0.1"],
                           env=_env(person_home, DISPLAY=display.name), encoding="utf-8",
                           timeout=T,
                           dimensions=(50, 300))
    person.logfile_read = sys.stdout
    children.append(person)
    person.expect(r"listening on 127\.0\.0\.1:\d+")
    helper = pexpect.spawn(
        sys.executable, ["-m", "ra", "connect", str(file), "--password-stdin"],
        env=_env(helper_home, BROWSER=str(browser), XDG_RUNTIME_DIR=str(runtime)),
        encoding="utf-8", timeout=T, dimensions=(50, 300))
    helper.logfile_read = sys.stdout
    children.append(helper)
    helper.sendline(PASSWORD)
    _wait_for(record.exists, "the browser command to start")
    return Pair(person, helper, record.read_text().splitlines()[0], runtime, release)


def _opener(target: str) -> Path | None:
    """The opener file the browser was given (None if it was given an address)."""
    if not target.startswith("file://"):
        return None
    return Path(unquote(urlparse(target).path))


def _viewer_url(target: str) -> str:
    """The viewer's address: from the opener file (read as its owner), or the target itself."""
    opener = _opener(target)
    text = opener.read_text() if opener is not None else target
    found = VIEWER_URL.search(text)
    assert found is not None, text
    return found.group(0)


def _processes_holding(secret: bytes) -> list[str]:
    """Every command line and environment on the machine that holds `secret`."""
    holding = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        for name in ("cmdline", "environ"):
            try:
                data = Path(f"/proc/{pid}/{name}").read_bytes()
            except OSError:
                continue
            if secret in data:
                holding.append(f"/proc/{pid}/{name}")
    return holding


def _attack(base: Path, opener: Path | None, port: int, token: str) -> dict[str, Any]:
    script = base / "attacker.py"
    script.write_text(ATTACKER)
    script.chmod(0o644)
    result = subprocess.run(
        [*AS_NOBODY, sys.executable, str(script), str(opener or ""), str(port)],
        input=token, capture_output=True, text=True, timeout=60, cwd=base, check=True)
    report: dict[str, Any] = json.loads(result.stdout)
    assert report["uid"] == NOBODY
    return report


def _launch_page(playwright: Playwright) -> tuple[Browser, Page]:
    browser = playwright.chromium.launch(
        executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    return browser, browser.new_page()


def _open_from_file(page: Page, target: str) -> None:
    """Open the viewer as the browser would: from the file it was given."""
    assert target.startswith("file://"), f"the browser was given {target!r}, not a file"
    page.goto(target)
    page.wait_for_url(VIEWER_URL, timeout=T * 1000)
    page.wait_for_function(
        "() => document.getElementById('name').textContent.includes('Alice')",
        timeout=T * 1000)


def _wait_state(page: Page, state: str) -> None:
    page.wait_for_function(
        "s => document.getElementById('status').dataset.state === s", arg=state,
        timeout=T * 1000)


def _chat_round_trip(pair: Pair, page: Page, text: str) -> None:
    """A chat line from the person shows in the helper's page."""
    pair.person.sendline(text)
    page.locator("#chat-log li", has_text=text).wait_for(timeout=T * 1000)


# -- another account, for real ---------------------------------------------------------


def test_another_account_finds_no_token_and_is_refused(
        base: Path, children: list[pexpect.spawn], display: Display) -> None:
    pair = _start(base, children, display)
    try:
        url = _viewer_url(pair.target)
        found = VIEWER_URL.fullmatch(url)
        assert found is not None
        port, token = int(found.group(1)), found.group(2)

        # No process on the machine has the token in its arguments or environment.
        assert _processes_holding(token.encode()) == []
        opener = _opener(pair.target)
        assert opener is not None
        assert stat.S_IMODE(opener.stat().st_mode) == 0o600
        assert opener.parent == pair.runtime

        report = _attack(base, opener, port, token)
        assert report["found"] == []
        assert report["opener"] == "PermissionError"
        for name, answer in report["answers"].items():
            assert answer["bytes"] == "", (name, answer["bytes"][:200])  # not one byte of HTTP
            assert answer["outcome"] in ("closed", "reset"), (name, answer)

        # The real page, from the file, still gets in: nothing above used the token up.
        with sync_playwright() as playwright:
            browser, page = _launch_page(playwright)
            try:
                _open_from_file(page, pair.target)
                _wait_for(lambda: not opener.exists(), "the opener to be deleted")
                pair.person.expect("asks to see your screen")
                pair.person.expect("Answer y")
                pair.person.sendline("y")
                _wait_state(page, "viewing")
                # Now that it is in, the account that is not ours still gets nothing.
                report = _attack(base, opener, port, token)
                assert all(answer["bytes"] == "" for answer in report["answers"].values()), report
                page.click("#disconnect")
                pair.person.expect("ended the session")
                pair.helper.expect("session ended")
            finally:
                browser.close()
        pair.helper.expect(pexpect.EOF)
        assert list(pair.runtime.iterdir()) == []
    finally:
        pair.release.touch()


def test_a_browser_command_that_does_not_return_does_not_stall_the_session(
        base: Path, children: list[pexpect.spawn], display: Display) -> None:
    pair = _start(base, children, display)
    try:
        with sync_playwright() as playwright:
            browser, page = _launch_page(playwright)
            try:
                _open_from_file(page, pair.target)
                started = time.monotonic()
                pair.person.expect("asks to see your screen")
                pair.person.expect("Answer y")
                pair.person.sendline("y")
                _wait_state(page, "viewing")
                pair.helper.expect("lets you see the screen")
                # Past the peer timeout, the browser command still running, the session
                # stays up: each second nothing reports a lost peer, and chat goes through.
                rounds = 0
                while time.monotonic() - started < PEER_TIMEOUT_S + 3:
                    seen = pair.person.expect(["lost the connection", pexpect.TIMEOUT],
                                              timeout=1.0)
                    assert seen == 1, "the person's side lost the helper"
                    rounds += 1
                    _chat_round_trip(pair, page, f"still here {rounds}")
                assert not pair.release.exists()
                _wait_state(page, "viewing")
                page.click("#disconnect")
                pair.helper.expect("session ended")
            finally:
                browser.close()
    finally:
        pair.release.touch()


def test_the_viewer_closes_another_accounts_connection_unanswered() -> None:
    """The listening socket itself: another uid gets no byte, ours gets the page."""
    import asyncio

    from ra.viewer import ViewerServer

    async def body() -> None:
        server = ViewerServer(lambda message: None)
        url = await server.start()
        port, token = server.port, url.rsplit("/", 1)[1]
        request = (f"GET /v/{token} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                   f"Origin: http://127.0.0.1:{port}\r\n\r\n")
        code = ("import socket,sys\n"
                f"s=socket.create_connection(('127.0.0.1',{port}),timeout=10)\n"
                f"s.sendall({request.encode()!r})\n"
                "got=b''\n"
                "try:\n"
                "    while c:=s.recv(4096): got+=c\n"
                "except ConnectionResetError: pass\n"
                "sys.stdout.write(repr(got))\n")
        try:
            for who, expect_page in ((AS_NOBODY, False), ([], True)):
                child = await asyncio.create_subprocess_exec(
                    *who, sys.executable, "-c", code, stdout=asyncio.subprocess.PIPE)
                out, _ = await asyncio.wait_for(child.communicate(), T)
                got = out.decode()
                if expect_page:
                    assert got.startswith("b'HTTP/1.1 200"), got[:200]
                else:
                    assert got == "b''", got[:200]
        finally:
            await server.close()

    asyncio.run(body())


# -- the parts -------------------------------------------------------------------------


def test_peer_uids_name_the_account_at_the_other_end() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        code = (f"import socket,sys;s=socket.create_connection(('127.0.0.1',{port}));"
                "sys.stdin.read()")
        child = subprocess.Popen([*AS_NOBODY, sys.executable, "-c", code],
                                 stdin=subprocess.PIPE)
        try:
            theirs, address = listener.accept()
            with theirs, socket.create_connection(("127.0.0.1", port)) as mine:
                ours, _ = listener.accept()
                with ours:
                    local = theirs.getsockname()
                    assert peer_uids(local, address) == {NOBODY}
                    assert refusal(local, address) == "another account"
                    assert refusal(local, address, uid=NOBODY) is None
                    assert peer_uids(ours.getsockname(), ours.getpeername()) == {os.getuid()}
                    assert refusal(ours.getsockname(), ours.getpeername()) is None
                    assert mine.getsockname() == ours.getpeername()
                    # Tables that cannot be read cannot tell: allowed, the token still guards.
                    assert refusal(local, address, tables=[Path("/nonexistent/tcp")]) is None
        finally:
            assert child.stdin is not None
            child.stdin.close()
            child.wait(timeout=T)


def test_peer_not_listed_is_refused(tmp_path: Path) -> None:
    table = tmp_path / "tcp"
    table.write_text("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when "
                     "retrnsmt   uid  timeout inode\n")
    assert peer_uids(("127.0.0.1", 5000), ("127.0.0.1", 6000), [table]) == set()
    assert refusal(("127.0.0.1", 5000), ("127.0.0.1", 6000), tables=[table]) == "peer not listed"


@pytest.mark.parametrize("umask", [0o000, 0o077, 0o777])
def test_opener_is_the_users_alone_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    url = "http://127.0.0.1:4242/v/abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    old = os.umask(umask)
    try:
        path = write_opener(url, folder)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == opener_html(url)
    assert f"location.replace({json.dumps(url)})" in path.read_text()
    assert write_opener(url, folder) != path  # a new name each time, never an old file


def test_opener_folder_is_private(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    runtime = tmp_path / "runtime"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    assert private_folder(home) == runtime
    # A runtime folder others may enter, or a link, is not used: RA_HOME/run, 0700.
    for loose in (0o755, 0o711):
        runtime.chmod(loose)
        assert private_folder(home) == home / "run"
    runtime.chmod(0o700)
    link = tmp_path / "link"
    link.symlink_to(runtime)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(link))
    assert private_folder(home) == home / "run"
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    (home / "run").chmod(0o755)
    assert private_folder(home) == home / "run"
    assert stat.S_IMODE((home / "run").stat().st_mode) == 0o700  # tightened
    # Made under a umask that leaves even its owner out: still 0700.
    (home / "run").rmdir()
    old = os.umask(0o777)
    try:
        assert private_folder(home) == home / "run"
    finally:
        os.umask(old)
    assert stat.S_IMODE((home / "run").stat().st_mode) == 0o700
    # A file, or a link, where the folder should be: one clear error, nothing written.
    (home / "run").rmdir()
    (home / "run").write_text("")
    with pytest.raises(OpenerError, match="is not a folder of yours"):
        private_folder(home)
    (home / "run").unlink()
    (home / "run").symlink_to(tmp_path)
    with pytest.raises(OpenerError, match="is not a folder of yours"):
        private_folder(home)
