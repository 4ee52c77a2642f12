"""A real `ra ask` (on a pty) against strangers: thousands of connections that never
authenticate while the real helper gets in, Ctrl-C while handshakes are in flight,
and a helper that stops reading its socket.

The strangers connect from many loopback addresses (127.0.0.2 to 127.0.0.251), as
a crowd of hosts would; the helper connects from 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import io
import resource
import signal
import socket
import sqlite3
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import psutil
import pytest
import test_live_session
from test_live_session import (
    PASSWORD,
    SIGNER,
    T,
    _create,
    _ending,
    _events,
    _exit_code,
    _spawn,
)

from ra.invitations import load_invitation
from ra.invitations.file import Invitation
from ra.invitations.keystore import derive_pake_secret
from ra.net import Channel, FrameDecoder, HelperHandshake, Kind, connect
from ra.net.framing import encode_frame, encode_message
from ra.net.transport import client_tls_context

homes = test_live_session.homes  # the fixtures, shared
children = test_live_session.children

Homes = tuple[Path, Path]
Children = list[pexpect.spawn]
STRANGERS = 3000
GROWTH_MB = 60  # before the limits: 3,000 strangers took `ra ask` from 75 MB to 923 MB
LINES = 2000
EXIT_S = 8  # Ctrl-C ends `ra ask` within this many seconds, whatever the helper does
NOISE = ("Traceback", "Exception in callback", "Task was destroyed", "was never retrieved")


@pytest.fixture(autouse=True)
def enough_files() -> Iterator[None]:
    """Room for thousands of sockets in this process (the soft limit, up to the hard one)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 3 * STRANGERS + 1000
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"needs {wanted} open files, the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def _client_hello() -> bytes:
    """The first flight of a real TLS 1.3 client, to start handshakes that never finish."""
    context = client_tls_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def _stranger(number: int, port: int, hello: bytes) -> socket.socket:
    """A connection from 127.0.0.(2 + number % 250) that sends nothing, part of a
    ClientHello, or a whole one, and then nothing more."""
    sock = socket.socket()
    sock.bind((f"127.0.0.{2 + number % 250}", 0))
    try:
        sock.connect(("127.0.0.1", port))
    except OSError:
        sock.close()
        raise
    first = (b"", hello[:20], hello)[number % 3]
    if first:
        try:
            sock.send(first)
        except OSError:
            pass  # already refused
    return sock


class Rss:
    """Samples a process's resident memory every 20 ms until stopped: the peak."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.baseline = self.process.memory_info().rss
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            try:
                self.peak = max(self.peak, self.process.memory_info().rss)
            except psutil.Error:
                return

    def now(self) -> int:
        return int(self.process.memory_info().rss)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def _mb(size: int) -> float:
    return size / 2**20


class Transcript(io.StringIO):
    """Everything a child printed (pexpect's ``before`` holds only the last stretch),
    also shown by pytest on failure."""

    def write(self, text: str) -> int:
        sys.stdout.write(text)
        return super().write(text)


def _quiet(transcript: Transcript) -> None:
    """No traceback and no asyncio complaint anywhere in what `ra ask` printed."""
    text = transcript.getvalue()
    assert not any(noise in text for noise in NOISE), text


def _ask(homes: Homes, tmp: Path, children: Children) -> tuple[pexpect.spawn, int, Path]:
    person_home, _ = homes
    inv_id, file = _create(person_home, tmp)
    person = _spawn(person_home, "ask", inv_id, "--host", "127.0.0.1", "--no-screen")
    person.logfile_read = Transcript()
    children.append(person)
    person.expect(r"listening on 127\.0\.0\.1:(\d+)")
    return person, int(person.match.group(1)), file


def test_ask_stays_small_under_3000_half_open_connections_and_the_helper_gets_in(
    homes: Homes, tmp_path: Path, children: Children
) -> None:
    person_home, _ = homes
    person, port, file = _ask(homes, tmp_path, children)
    invitation = load_invitation(file)
    rss = Rss(person.pid)
    hello = _client_hello()
    helper: dict[str, object] = {}
    helper_done = threading.Event()
    release_helper = threading.Event()

    def run_helper() -> None:
        async def main() -> None:
            channel = await connect(invitation, PASSWORD, SIGNER, timeout=10)
            helper["channel"] = channel
            helper_done.set()
            await asyncio.to_thread(release_helper.wait)
            await channel.close("done")

        try:
            asyncio.run(main())
        except BaseException as exc:
            helper["error"] = exc
        finally:
            helper_done.set()

    strangers: list[socket.socket] = []
    thread = threading.Thread(target=run_helper, daemon=True)
    try:
        # The strangers keep coming (the table stays full) until the helper is through.
        number = 0
        while number < STRANGERS or (not helper_done.is_set() and number < 3 * STRANGERS):
            if number == STRANGERS // 3:
                thread.start()
            try:
                strangers.append(_stranger(number, port, hello))
            except ConnectionRefusedError:
                break  # ra ask is gone: the checks below say why
            number += 1
        assert helper_done.wait(30)
        assert "error" not in helper, helper.get("error")
        assert isinstance(helper["channel"], Channel)
        person.expect("You can still chat")  # in: a session, chat only (--no-screen)
        peak = rss.peak
        assert _mb(peak - rss.baseline) < GROWTH_MB, (
            f"{number} strangers took ra ask from {_mb(rss.baseline):.0f} MB "
            f"to {_mb(peak):.0f} MB"
        )
    finally:
        for sock in strangers:
            sock.close()
    after = rss.now()
    rss.stop()
    assert _mb(after - rss.baseline) < GROWTH_MB, f"{_mb(after):.0f} MB after they left"
    release_helper.set()
    thread.join(T)
    person.expect("lost the connection")
    assert _exit_code(person) == 0
    _quiet(person.logfile_read)
    assert "net.unauthenticated.limited" in person.logfile_read.getvalue()  # the table was full
    authenticated = [e for e in _events(person_home) if e.type == "session.authenticated"]
    assert len(authenticated) == 1 and authenticated[0].origin == "127.0.0.1"


async def _tls_strangers(port: int, stop: threading.Event, count: list[int]) -> None:
    """Strangers that finish TLS (or not) and send half a frame, 400 at a time, until
    `ra ask` is gone."""
    context = client_tls_context()
    kept: list[asyncio.StreamWriter] = []

    async def one(number: int) -> None:
        try:
            _, writer = await asyncio.open_connection(
                "127.0.0.1", port, ssl=context, server_hostname="ra",
                local_addr=(f"127.0.0.{2 + number % 250}", 0),
            )
        except ConnectionRefusedError:
            stop.set()
            return
        except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
            return
        writer.write(b"\x00\x00")
        kept.append(writer)
        count[0] += 1

    number = 0
    pending: set[asyncio.Task[None]] = set()
    while not stop.is_set():
        while len(pending) < 400:
            pending.add(asyncio.create_task(one(number)))
            number += 1
        _, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    for writer in kept:
        writer.transport.abort()


def test_ctrl_c_while_handshakes_are_in_flight_exits_quietly(
    homes: Homes, tmp_path: Path, children: Children
) -> None:
    person, port, _ = _ask(homes, tmp_path, children)
    stop = threading.Event()
    count = [0]
    thread = threading.Thread(
        target=lambda: asyncio.run(_tls_strangers(port, stop, count)), daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while count[0] < 300 and time.monotonic() < deadline and thread.is_alive():
            stop.wait(0.01)  # until enough strangers are through TLS
        assert count[0] >= 300
        person.kill(signal.SIGINT)  # while more are shaking hands
        started = time.monotonic()
        person.expect("stopped waiting")
        assert _exit_code(person, timeout=5) == 0
        assert time.monotonic() - started < 5
    finally:
        stop.set()
        thread.join(T)
    _quiet(person.logfile_read)


def _until_stuck(database: Path, still: float = 1.0, limit: float = 60.0) -> int:
    """Poll the person's log until no event has been added for ``still`` seconds
    (the session is stuck on a write); the number of chat messages recorded."""
    db = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    poll = threading.Event()  # never set: its wait is the polling interval
    try:
        last, since = -1, time.monotonic()
        deadline = since + limit
        while time.monotonic() - since < still:
            (seq,) = db.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
            if seq != last:
                last, since = seq, time.monotonic()
            assert time.monotonic() < deadline, "the session never stopped recording"
            poll.wait(0.1)
        (count,) = db.execute("SELECT count(*) FROM events WHERE "
                              "json_extract(body, '$.type') = 'chat.message'").fetchone()
        return int(count)
    finally:
        db.close()


def _stalled_helper(invitation: Invitation, port: int) -> ssl.SSLSocket:
    """A helper that proves the password on a socket with a tiny receive buffer and
    then reads nothing more: what the person sends piles up on the person's side."""
    secret = derive_pake_secret(PASSWORD, invitation.pake)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    tls = client_tls_context().wrap_socket(sock, server_hostname="ra")
    handshake = HelperHandshake(invitation, secret, SIGNER)
    tls.sendall(encode_message(Kind.HANDSHAKE, handshake.hello()))
    decoder = FrameDecoder()
    while not handshake.done:
        data = tls.recv(4096)
        assert data, "the person closed the connection during the handshake"
        for frame in decoder.feed(data):
            assert frame.message is not None
            reply = handshake.receive(frame.message)
            if reply is not None:
                tls.sendall(encode_message(Kind.HANDSHAKE, reply))
    return tls


def test_ctrl_c_ends_ask_when_the_helper_stops_reading(
    homes: Homes, tmp_path: Path, children: Children
) -> None:
    person_home, _ = homes
    person, port, file = _ask(homes, tmp_path, children)
    invitation = load_invitation(file)
    ready = threading.Event()
    stop = threading.Event()
    failed: list[BaseException] = []

    def run_helper() -> None:
        try:
            tls = _stalled_helper(invitation, port)
        except BaseException as exc:
            failed.append(exc)
            ready.set()
            return
        ready.set()
        with tls:
            while not stop.wait(1.0):
                try:
                    tls.sendall(encode_frame(Kind.HEARTBEAT))  # alive, only not reading
                except OSError:
                    return

    thread = threading.Thread(target=run_helper, daemon=True)
    thread.start()
    try:
        assert ready.wait(T) and not failed, failed
        person.expect("You can still chat")  # in: a session, chat only (--no-screen)
        person.setecho(False)
        person.delaybeforesend = None
        for n in range(LINES):  # 7.8 MB of chat: more than the sockets between us hold
            person.send(f"{n:04d} " + "x" * 3900 + "\n")
        recorded = _until_stuck(person_home / "ra.db")
        assert recorded < LINES, "the helper's buffers never filled"
        person.kill(signal.SIGINT)
        started = time.monotonic()
        person.expect("you ended the session", timeout=EXIT_S)
        assert _exit_code(person, timeout=EXIT_S) == 0
        assert time.monotonic() - started < EXIT_S
    finally:
        stop.set()
        thread.join(T)
    _quiet(person.logfile_read)
    chat = [e for e in _events(person_home) if e.type == "chat.message"]
    assert len(chat) < LINES  # what waited behind the stuck write was never sent
    assert _ending(person_home, peer_receipt=False).payload == {"by": "person", "reason": "user"}
