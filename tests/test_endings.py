"""Every way a session ends, played with a real `ra ask` and a real `ra connect`:
both sides' logs must agree on who ended it and why.

What "agree" means
------------------
Each side records the session in its own log, on the stream ``session:<id>``
(the id both sides share). Read with ``ra audit log --stream session:<id>
--jsonl``, the two streams agree when:

- They hold the same events in the same order, leaving out only what one side
  alone can know (``input.rejected``: the person's side, which injects, counts
  the input it refuses). Each pair has the same type, actor (kind, name, key),
  outcome and payload, except where the payload names the other side
  (``session.connected``'s ``peer``: the helper in the person's log, the
  person in the helper's) and where one side knows more: the person's
  ``session.authenticated`` adds the address the helper came from, and its
  ``control.released`` the count of the inputs it injected; the side
  that decided the ending may add to ``session.disconnected`` the
  ``invitation`` status or the ``detail`` of an error. Each side's
  ``session.receipt`` is its own, signed by that side; when both were
  exchanged, each side holds the other's.
- The ending is the same on both sides: ``session.disconnected`` with the same
  ``by`` and the same ``reason``, and an actor of the kind ``by`` names. ``by``
  is who ended it, the same from either side: ``person`` or ``helper`` for that
  person's decision (the person's ``/disconnect`` and Ctrl-C are reason
  ``user``; the helper's button, ``/disconnect`` and Ctrl-C are reason
  ``helper``), ``system`` when ra ended it and nobody chose to: a network loss
  (whichever side noticed it first), the invitation ended, an error, a flood.
  A view consent refused ends the session without ``session.disconnected``
  (the session machine goes straight to ``disconnected``): the ending is then
  ``consent.denied`` with scope ``view``, whose actor says who (``system`` for
  a time-out, ``person`` for a no) and whose ``reason`` says why.

The helper reaches the person through a TCP relay in this process (`Relay`),
so the network can be lost for real and on one side only: the relay drops the
person's link or the helper's (that side sees its connection go at once, the
other hears nothing more and gives up after the peer time-out), or loses only
what the person sends (the helper gives up first and tells the person, whose
link still carries the helper's messages).

The helper's button is the real viewer page in headless Chromium.
"""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pexpect
import pytest
import test_live_session
from test_live_session import HELPER_NAME, PASSWORD, RUNNER, T, _create, _env, _exit_code
from test_live_session_more import _to_control

from ra.engine import Output, Record, Send, SessionEngine
from ra.invitations import load_invitation
from ra.statemachines.session import SessionState

homes = test_live_session.homes  # the fixtures, shared
children = test_live_session.children

Homes = tuple[Path, Path]
Children = list[pexpect.spawn]
Event = dict[str, Any]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
#: Where `ra ask` listens; the relay listens where the invitation points (127.0.0.1).
PERSON_HOST = "127.0.0.2"
#: Long enough for the peer time-out (10 s), the receipt wait (3 s) and a slow machine.
ENDED_WITHIN = 45
#: The person's name, in the invitation `_create` makes.
PERSON_NAME = "Alice"
#: Events only one side records.
ONE_SIDED = frozenset({"input.rejected", "recording.chunk"})


class Relay:
    """A TCP relay between the helper and the person: bytes go across until lost.

    `cut(side)` drops that side's link: its socket is shut (the side sees the
    connection go) and nothing more crosses either way, while the other side's
    socket stays open and silent. `lose(side)` drops only what `side` sends.
    """

    def __init__(self, listen: tuple[str, int], target: tuple[str, int]) -> None:
        self._server = socket.create_server(listen)
        self._target = target
        self._lost: set[str] = set()
        self._links: list[dict[str, socket.socket]] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._start(self._accept)

    def _start(self, work: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=work, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while True:
            try:
                helper, _ = self._server.accept()
            except OSError:
                return  # closed
            person = socket.create_connection(self._target)
            with self._lock:
                self._links.append({"helper": helper, "person": person})
            self._start(self._pump, helper, person, "helper")
            self._start(self._pump, person, helper, "person")

    def _pump(self, source: socket.socket, sink: socket.socket, side: str) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                return
            if not data:
                if side not in self._lost:
                    with contextlib.suppress(OSError):
                        sink.shutdown(socket.SHUT_WR)
                return
            if side in self._lost:
                continue
            try:
                sink.sendall(data)
            except OSError:
                return

    def lose(self, side: str) -> None:
        """From now on, what `side` sends is lost on the way."""
        self._lost.add(side)

    def cut(self, side: str) -> None:
        """`side`'s link goes: it sees its connection close; the other hears nothing more."""
        self._lost.update({"helper", "person"})
        with self._lock:
            for link in self._links:
                with contextlib.suppress(OSError):
                    link[side].shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._server.close()
        with self._lock:
            for link in self._links:
                for sock in link.values():
                    with contextlib.suppress(OSError):
                        sock.shutdown(socket.SHUT_RDWR)
                    sock.close()
        for thread in self._threads:
            thread.join(timeout=5)


@dataclass
class Session:
    """One live session: both processes, the relay between them, the two homes."""

    person: pexpect.spawn
    helper: pexpect.spawn
    relay: Relay
    person_home: Path
    helper_home: Path
    invitation_id: str
    viewer_url: str
    page: Any = field(default=None)


@pytest.fixture
def screen(display: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`ra ask` shares a real (virtual) display: without one a session is chat only."""
    monkeypatch.setenv("DISPLAY", display.name)


def _spawn(home: Path, children: Children, *args: str, **env: str) -> pexpect.spawn:
    child = pexpect.spawn(sys.executable, ["-m", RUNNER, *args], env={**_env(home), **env},
                          encoding="utf-8", timeout=T, dimensions=(50, 400))
    child.logfile_read = sys.stdout  # shown by pytest on failure
    children.append(child)
    return child


@contextlib.contextmanager
def _session(homes: Homes, tmp: Path, children: Children,
             **person_env: str) -> Iterator[Session]:
    """`ra ask` on PERSON_HOST, the relay on the invitation's address, `ra connect`."""
    person_home, helper_home = homes
    inv_id, file = _create(person_home, tmp)
    port = load_invitation(file).port
    relay = Relay(("127.0.0.1", port), (PERSON_HOST, port))
    try:
        person = _spawn(person_home, children, "ask", inv_id, "--terminal", "--host", PERSON_HOST,
                        **person_env)
        person.expect(rf"listening on {PERSON_HOST.replace('.', '[.]')}:{port}")
        helper = _spawn(helper_home, children, "connect", str(file), "--password-stdin",
                        "--no-browser", "--name", HELPER_NAME)
        helper.sendline(PASSWORD)
        helper.expect(r"viewer: open (file://\S+) in your browser")
        url = str(helper.match.group(1)).strip()
        yield Session(person, helper, relay, person_home, helper_home, inv_id, url)
    finally:
        relay.close()


def _to_viewing(session: Session) -> None:
    session.person.expect("asks to see your screen")
    session.person.expect("Answer y")
    session.person.sendline("y")
    session.person.expect("can now see your screen")
    session.helper.expect("lets you see the screen")


def _both_exit(session: Session) -> None:
    assert _exit_code(session.person, ENDED_WITHIN) == 0
    assert _exit_code(session.helper, ENDED_WITHIN) == 0


# -- the endings ------------------------------------------------------------------------


def _person_types_disconnect(session: Session) -> None:
    session.person.sendline("/disconnect")
    session.person.expect("you ended the session")
    session.helper.expect("Alice ended the session")


def _person_presses_ctrl_c(session: Session) -> None:
    session.person.sendintr()  # the terminal's Ctrl-C: SIGINT to `ra ask`
    session.person.expect("you ended the session")
    session.helper.expect("Alice ended the session")


def _helper_clicks_disconnect(session: Session) -> None:
    session.page.click("#disconnect")
    session.helper.expect("you ended the session")
    session.person.expect(r"Bob \(IT\) ended the session")


def _helper_types_disconnect(session: Session) -> None:
    session.helper.sendline("/disconnect")
    session.helper.expect("you ended the session")
    session.person.expect(r"Bob \(IT\) ended the session")


def _helper_presses_ctrl_c(session: Session) -> None:
    session.helper.sendintr()
    session.helper.expect("you ended the session")
    session.person.expect(r"Bob \(IT\) ended the session")


def _person_link_lost(session: Session) -> None:
    session.relay.cut("person")
    session.person.expect("lost the connection")
    session.helper.expect("lost the connection", timeout=ENDED_WITHIN)


def _helper_link_lost(session: Session) -> None:
    session.relay.cut("helper")
    session.helper.expect("lost the connection")
    session.person.expect("lost the connection", timeout=ENDED_WITHIN)


def _person_sends_into_the_void(session: Session) -> None:
    session.relay.lose("person")
    session.helper.expect("lost the connection", timeout=ENDED_WITHIN)
    session.person.expect("lost the connection", timeout=ENDED_WITHIN)


def _invitation_expired_elsewhere(session: Session) -> None:
    subprocess.run([sys.executable, "-m", "ra", "invite", "expire", session.invitation_id],
                   env=_env(session.person_home), capture_output=True, timeout=60, check=True)
    session.person.expect("the invitation has ended")
    session.helper.expect("the invitation has ended")


def _consent_times_out(session: Session) -> None:
    session.person.expect("asks to see your screen")
    session.person.expect(r"may not see your screen \(timed out\)")
    session.helper.expect(r"did not allow viewing \(timed out\)")


def _person_says_no(session: Session) -> None:
    session.person.expect("asks to see your screen")
    session.person.expect("Answer y")
    session.person.sendline("n")
    session.person.expect(r"may not see your screen \(declined\)")
    session.helper.expect(r"did not allow viewing \(declined\)")


@dataclass(frozen=True)
class Ending:
    """One way a session ends: reached from `start`, played by `end`; both logs
    must end with `expected`: (event type, who, reason)."""

    end: Callable[[Session], None]
    start: str  # "asking" (the view question is open), "viewing" or "controlling"
    expected: tuple[str, str, str]
    person_env: dict[str, str] = field(default_factory=dict)
    page: bool = False


ENDINGS: dict[str, Ending] = {
    "person /disconnect": Ending(_person_types_disconnect, "viewing",
                                 ("session.disconnected", "person", "user")),
    "person Ctrl-C": Ending(_person_presses_ctrl_c, "controlling",
                            ("session.disconnected", "person", "user")),
    "helper button": Ending(_helper_clicks_disconnect, "controlling",
                            ("session.disconnected", "helper", "helper"), page=True),
    "helper /disconnect": Ending(_helper_types_disconnect, "viewing",
                                 ("session.disconnected", "helper", "helper")),
    "helper Ctrl-C": Ending(_helper_presses_ctrl_c, "controlling",
                           ("session.disconnected", "helper", "helper")),
    "network lost at the person's": Ending(_person_link_lost, "controlling",
                                           ("session.disconnected", "system", "network")),
    "network lost at the helper's": Ending(_helper_link_lost, "viewing",
                                           ("session.disconnected", "system", "network")),
    "network loses the person's side": Ending(_person_sends_into_the_void, "controlling",
                                              ("session.disconnected", "system", "network")),
    "invitation ended elsewhere": Ending(_invitation_expired_elsewhere, "controlling",
                                         ("session.disconnected", "system",
                                          "invitation ended")),
    "consent timed out": Ending(_consent_times_out, "asking",
                                ("consent.denied", "system", "timed out"),
                                person_env={"RA_CONSENT_TIMEOUT_S": "2"}),
    "person says no": Ending(_person_says_no, "asking",
                             ("consent.denied", "person", "declined")),
}


# -- reading and comparing the two logs ---------------------------------------------------


def _ra_jsonl(home: Path, *args: str) -> list[Event]:
    result = subprocess.run([sys.executable, "-m", "ra", "audit", "log", *args, "--jsonl",
                             "--home", str(home)],
                            capture_output=True, text=True, timeout=60, env=_env(home))
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def _stream(home: Path) -> str:
    """The one session this home recorded."""
    streams = {e["stream"] for e in _ra_jsonl(home, "--type", "session.connected")}
    assert len(streams) == 1, streams
    return streams.pop()


def _ending(events: list[Event]) -> tuple[str, str, str]:
    """(type, who, reason) of the event that ended the session."""
    for event in reversed(events):
        if event["type"] == "session.disconnected":
            payload = event["payload"]
            assert event["actor"]["kind"] == payload["by"], event
            return event["type"], payload["by"], payload["reason"]
        if event["type"] == "consent.denied" and event["payload"]["scope"] == "view":
            return event["type"], event["actor"]["kind"], event["payload"]["reason"]
    raise AssertionError("the session's log records no ending")


#: What only one side knows of an event's payload (see the module docstring).
_OWN_FIELDS = {"session.authenticated": {"address", "recording"},
               "session.disconnected": {"invitation", "detail"},
               "control.released": {"inputs_injected"}}  # counted where they are injected
#: Payload fields that name the other side: (field, what the person's log holds,
#: what the helper's log holds).
_PEER_FIELDS = {"session.connected": ("peer", HELPER_NAME, PERSON_NAME)}


def _agree(person: list[Event], helper: list[Event]) -> None:
    """The two streams tell the same story, event by event (see the module docstring)."""
    person = [e for e in person if e["type"] not in ONE_SIDED]
    helper = [e for e in helper if e["type"] not in ONE_SIDED]
    assert [e["type"] for e in person] == [e["type"] for e in helper]
    for mine, theirs in zip(person, helper, strict=True):
        kind = mine["type"]
        assert mine["stream"] == theirs["stream"]
        assert mine["outcome"] == theirs["outcome"], kind
        if kind == "session.receipt":
            assert mine["actor"]["kind"] == mine["payload"]["mine"]["role"] == "person"
            assert theirs["actor"]["kind"] == theirs["payload"]["mine"]["role"] == "helper"
            if mine["payload"]["peer"] is not None:
                assert mine["payload"]["peer"] == theirs["payload"]["mine"]
            if theirs["payload"]["peer"] is not None:
                assert theirs["payload"]["peer"] == mine["payload"]["mine"]
            continue
        assert mine["actor"] == theirs["actor"], kind
        own = set(_OWN_FIELDS.get(kind, set()))
        if kind in _PEER_FIELDS:
            name, person_sees, helper_sees = _PEER_FIELDS[kind]
            assert (mine["payload"][name], theirs["payload"][name]) == (person_sees,
                                                                      helper_sees)
            own.add(name)
        shared = {k: v for k, v in mine["payload"].items() if k not in own}
        assert shared == {k: v for k, v in theirs["payload"].items() if k not in own}, kind
    assert _ending(person) == _ending(helper)


# -- the test -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(ENDINGS))
def test_both_logs_agree_on_how_the_session_ended(name: str, homes: Homes, tmp_path: Path,
                                                  children: Children, screen: None) -> None:
    ending = ENDINGS[name]
    with _session(homes, tmp_path, children, **ending.person_env) as session:
        with contextlib.ExitStack() as stack:
            if ending.page:
                session.page = stack.enter_context(_viewer_page(session.viewer_url))
            if ending.start != "asking":
                _to_viewing(session)
            if ending.start == "controlling":
                _to_control(session.person, session.helper)
            ending.end(session)
            _both_exit(session)

    stream = _stream(session.person_home)
    assert _stream(session.helper_home) == stream  # the shared session id
    person = _ra_jsonl(session.person_home, "--stream", stream)
    helper = _ra_jsonl(session.helper_home, "--stream", stream)
    _agree(person, helper)
    assert _ending(person) == ending.expected
    if ending.start == "controlling":  # control ended with the session, on both sides
        for events in (person, helper):
            assert [e["type"] for e in events if e["type"] not in ONE_SIDED][-4:-2] == [
                "control.granted",
                                                          "control.released"]


@contextlib.contextmanager
def _viewer_page(url: str) -> Iterator[Any]:
    """The helper's viewer, open in headless Chromium."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                                             headless=True)
        try:
            page = browser.new_page()
            page.goto(url)
            yield page
        finally:
            browser.close()



# -- the same rule, engine to engine (no I/O) ----------------------------------------------


def _viewing() -> tuple[SessionEngine, SessionEngine]:
    """A person's and a helper's engine, both viewing at t=1."""
    person, helper = SessionEngine("person", "Alice"), SessionEngine("helper", "Bob")
    for engine, peer in ((person, "Bob"), (helper, "Alice")):
        engine.connected(peer, 0.0)
    helper.authenticated(0.0)
    for message in _sent(person.authenticated(0.0)):
        helper.received(message, 0.0)
    for message in _sent(person.consent_answered("view", True, 1.0)):
        helper.received(message, 1.0)
    assert person.state is helper.state is SessionState.VIEWING
    return person, helper


def _sent(outputs: list[Output]) -> list[dict[str, Any]]:
    return [out.message for out in outputs if isinstance(out, Send)]


def _ended(outputs: list[Output]) -> tuple[str, str, str]:
    """(actor kind, by, reason) of the ``session.disconnected`` among `outputs`."""
    [event] = [out.event for out in outputs
               if isinstance(out, Record) and out.event.type == "session.disconnected"]
    return event.actor.kind, event.payload["by"], event.payload["reason"]


#: How each side can end a session by itself, and the (by, reason) it records.
ENGINE_ENDINGS: dict[str, tuple[str, Callable[[SessionEngine], list[Output]], str, str]] = {
    "person /disconnect": ("person", lambda e: e.local_command("/disconnect", 2.0),
                           "person", "user"),
    "helper /disconnect": ("helper", lambda e: e.local_command("/disconnect", 2.0),
                           "helper", "helper"),
    "person hears nothing": ("person", lambda e: e.tick(20.0), "system", "network"),
    "helper hears nothing": ("helper", lambda e: e.tick(20.0), "system", "network"),
    "invitation ended": ("person", lambda e: e.invitation_ended("expired", 2.0),
                         "system", "invitation ended"),
    "person sees an error": ("person", lambda e: e.protocol_error("bad frame", 2.0),
                             "system", "error"),
    "helper sees an error": ("helper", lambda e: e.protocol_error("bad frame", 2.0),
                             "system", "error"),
    "person is flooded with chat": (
        "person", lambda e: [out for n in range(60)
                             for out in e.received({"type": "chat", "text": "hi"}, 2.0)],
        "system", "flood"),
    "helper is flooded with chat": (
        "helper", lambda e: [out for n in range(60)
                             for out in e.received({"type": "chat", "text": "hi"}, 2.0)],
        "system", "flood"),
}


@pytest.mark.parametrize("name", list(ENGINE_ENDINGS))
def test_the_side_told_of_an_ending_records_it_as_the_side_that_ended_it(name: str) -> None:
    side, end, by, reason = ENGINE_ENDINGS[name]
    person, helper = _viewing()
    ender, told = (person, helper) if side == "person" else (helper, person)
    outputs = end(ender)
    assert _ended(outputs) == (by, by, reason)
    [message] = [m for m in _sent(outputs) if m["type"] == "disconnect"]
    assert _ended(told.received(message, 2.5)) == (by, by, reason)
    assert told.state is SessionState.DISCONNECTED


@pytest.mark.parametrize(("sender", "reason"), [("helper", "invitation ended"),
                                                ("helper", "user"), ("person", "helper")])
def test_a_side_gives_only_its_own_reasons_to_end(sender: str, reason: str) -> None:
    """A helper cannot say the invitation ended, nor either side speak for the other:
    the claim ends the session as the error it is, by the system of the side told."""
    person, helper = _viewing()
    told = person if sender == "helper" else helper
    ended = told.received({"type": "disconnect", "reason": reason}, 2.0)
    assert _ended(ended) == ("system", "system", "error")


@pytest.mark.parametrize(
    "name", [n for n, e in ENGINE_ENDINGS.items() if e[3] in ("error", "flood")])
def test_the_side_told_of_a_protocol_ending_says_the_other_side_ended_it(name: str) -> None:
    """The side that saw the bad message says what it saw; the side told of it does
    not claim its peer sent something it could not understand."""
    side, end, _by, _reason = ENGINE_ENDINGS[name]
    person, helper = _viewing()
    ender, told = (person, helper) if side == "person" else (helper, person)
    [message] = [m for m in _sent(end(ender)) if m["type"] == "disconnect"]
    shown = [str(o.text) for o in told.received(message, 2.5) if type(o).__name__ == "Show"]
    assert shown and "side ended the session" in shown[-1]
    assert "does not understand" not in shown[-1]
