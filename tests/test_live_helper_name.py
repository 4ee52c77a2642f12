"""The helper has a name, proven with its key: two real `ra` processes on loopback.

`ra connect --name "Bob (IT)"` proves its identity key in the handshake; the
person's `ra ask` names Bob, his key and his address in the question, records
them in the log and on every event Bob causes, and the compliance reports
show them. The name is remembered in the helper's config.toml, and a key the
person's log saw before under another name is flagged in the question.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pexpect
import pytest
import test_live_session
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_live_session import (
    HELPER_NAME,
    PASSWORD,
    _create,
    _env,
    _events,
    _exit_code,
    _spawn,
    _start,
)

from ra.events import Actor
from ra.fingerprint import key_fingerprint, short_fingerprint
from ra.home import Home
from ra.identity import load_identity
from ra.invitations import load_invitation
from ra.net import HelperIdentity, HelperSigner, Refused, connect

homes = test_live_session.homes  # the fixtures, shared
children = test_live_session.children
screen = test_live_session.screen  # autouse: `ra ask` shares a real (virtual) display

Homes = tuple[Path, Path]
Children = list[pexpect.spawn]
SCHEMA = json.loads((Path(__file__).parents[1] / "audit" / "schema" /
                     "event.schema.json").read_text())


def _helper_key(home: Path) -> str:
    """The fingerprint of the identity key `ra connect` will use from `home`."""
    return key_fingerprint(load_identity(Home.at(home)).signing_public)


def _question(name: str, key: str) -> str:
    """The start of the view question, as a regex."""
    return (re.escape(f"{name} asks to see your screen. Key {short_fingerprint(key)}, "
                      "connecting from 127.0.0.1."))


def _report(home: Path, name: str, fmt: str = "jsonl") -> str:
    return subprocess.run(
        [sys.executable, "-m", "ra", "audit", "report", name, "--format", fmt],
        env=_env(home), capture_output=True, text=True, timeout=30, check=True).stdout


def test_the_person_sees_and_records_who_the_helper_is(homes: Homes, tmp_path: Path,
                                                      children: Children) -> None:
    person_home, helper_home = homes
    key = _helper_key(helper_home)
    _, person, helper = _start(homes, tmp_path, children)  # --name "Bob (IT)"
    helper.expect(re.escape(f"you are Bob (IT), key {short_fingerprint(key, 16)}"))
    person.expect(_question("Bob (IT)", key))
    person.expect("Only allow someone you contacted yourself")
    assert "seen before" not in (person.before or "")
    person.expect("Answer y")
    person.sendline("y")
    helper.expect("lets you see the screen")
    helper.sendline("hello from Bob")
    person.expect(re.escape("[chat] helper Bob (IT): hello from Bob"))
    helper.sendline("/disconnect")
    person.expect("Bob \\(IT\\) ended the session")
    assert _exit_code(helper) == 0
    assert _exit_code(person) == 0

    bob = Actor("helper", HELPER_NAME, key)
    events = _events(person_home)
    authenticated = next(e for e in events if e.type == "session.authenticated")
    assert authenticated.payload == {"helper": "Bob (IT)", "fingerprint": key,
                                     "address": "127.0.0.1", "recording": "screen"}
    assert authenticated.actor == bob
    # Every event the helper caused names Bob, his key and where he came from.
    by_helper = [e for e in events if e.actor.kind == "helper"]
    assert {e.type for e in by_helper} >= {"session.connected", "session.authenticated",
                                           "consent.requested", "chat.message",
                                           "session.disconnected"}
    assert all(e.actor == bob and e.origin == "127.0.0.1" for e in by_helper)
    chat = next(e for e in events if e.type == "chat.message")
    assert chat.actor == bob and chat.payload["from"] == "helper"
    assert chat.to_json()["actor"] == {"id": "Bob (IT)", "key": key, "kind": "helper"}
    opened = [e for e in _events(person_home, "invitation:")
              if e.type in ("invitation.opened", "invitation.accepted")]
    assert [e.actor for e in opened] == [bob, bob]
    for event in [*events, *opened]:
        jsonschema.validate(event.to_json(), SCHEMA)

    # The helper's own log says who it was, with the same key.
    mine = next(e for e in _events(helper_home) if e.type == "session.authenticated")
    assert mine.payload == {"helper": "Bob (IT)", "fingerprint": key}
    assert mine.actor == bob

    # The compliance reports name Bob and his key.
    timeline = [json.loads(line) for line in _report(person_home, "session-timeline")
                .splitlines()]
    assert [(row["helper"], row["helper_key"], row["helper_address"])
            for row in timeline] == [("Bob (IT)", key, "127.0.0.1")]
    grants = [json.loads(line) for line in _report(person_home, "consent-and-control-grants")
              .splitlines()]
    asked = next(row for row in grants if row["decision"] == "consent.requested")
    assert (asked["decided_by"], asked["decided_by_key"]) == ("helper:Bob (IT)", key)
    table = _report(person_home, "session-timeline", "table")
    assert "Bob (IT)" in table and key in table

    # The name is remembered for the next connect.
    config = tomllib.loads((helper_home / "config.toml").read_text())
    assert config == {"helper": {"name": "Bob (IT)"}}


def _session(person_home: Path, helper_home: Path, tmp_path: Path, children: Children,
             *name: str) -> tuple[pexpect.spawn, pexpect.spawn]:
    """A new invitation, `ra ask` and `ra connect` (with `name`: ``--name X``, or nothing)."""
    inv_id, file = _create(person_home, tmp_path)
    person = _spawn(person_home, "ask", inv_id, "--terminal", "--host", "127.0.0.1")
    children.append(person)
    person.expect(r"listening on 127\.0\.0\.1:\d+")
    helper = _spawn(helper_home, "connect", str(file), "--password-stdin", "--no-browser",
                    *name)
    children.append(helper)
    helper.sendline(PASSWORD)
    return person, helper


def _decline(person: pexpect.spawn, helper: pexpect.spawn) -> str:
    """Say no to the view question; returns the question as the person saw it."""
    person.expect("Answer y")
    question = person.before or ""
    person.sendline("n")
    person.expect("the session has ended")
    assert _exit_code(person) == 0
    assert _exit_code(helper) == 0
    return question


def test_a_key_seen_before_under_another_name_is_flagged(homes: Homes, tmp_path: Path,
                                                        children: Children) -> None:
    person_home, helper_home = homes
    key = _helper_key(helper_home)
    person, helper = _session(person_home, helper_home, tmp_path, children, "--name", "Eve")
    person.expect(_question("Eve", key))
    assert "seen before" not in _decline(person, helper)

    # The same key, now calling itself Bob: the person is told.
    person, helper = _session(person_home, helper_home, tmp_path, children,
                              "--name", "Bob (IT)")
    person.expect(_question("Bob (IT)", key))
    person.expect(re.escape("Careful: this key was seen before as 'Eve'."))
    _decline(person, helper)

    # No --name: the last one given is remembered, and the flag still stands.
    person, helper = _session(person_home, helper_home, tmp_path, children)
    person.expect(_question("Bob (IT)", key))
    person.expect(re.escape("Careful: this key was seen before as 'Eve'."))
    _decline(person, helper)
    names = [e.payload["helper"] for e in _events(person_home)
             if e.type == "session.authenticated"]
    assert names == ["Eve", "Bob (IT)", "Bob (IT)"]


def test_a_name_unfit_to_show_is_a_usage_error(homes: Homes, tmp_path: Path) -> None:
    _, helper_home = homes
    _, file = _create(homes[0], tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", test_live_session.RUNNER, "connect", str(file),
         "--password-stdin", "--no-browser", "--name", "Bob\x1b[2K\nra asks: allow?"],
        input=PASSWORD + "\n", env=_env(helper_home), capture_output=True, text=True,
        timeout=30)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "--name" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not (helper_home / "config.toml").exists()


@dataclass(frozen=True)
class _Forger(HelperSigner):
    """Knows the password, names Bob's key, but can only sign with its own."""

    claimed: bytes = b""

    @property
    def identity(self) -> HelperIdentity:
        return HelperIdentity(self.name, self.claimed)


def test_a_helper_that_cannot_prove_the_key_it_names_is_refused(homes: Homes, tmp_path: Path,
                                                               children: Children) -> None:
    person_home, helper_home = homes
    bob = load_identity(Home.at(helper_home)).signing_public
    inv_id, file = _create(person_home, tmp_path)
    person = _spawn(person_home, "ask", inv_id, "--terminal", "--host", "127.0.0.1")
    children.append(person)
    person.expect(r"listening on 127\.0\.0\.1:\d+")
    forger = _Forger("Bob (IT)", Ed25519PrivateKey.generate(), bob)
    with pytest.raises(Refused, match="signature does not match"):
        asyncio.run(connect(load_invitation(file), PASSWORD, forger))
    person.expect("a helper from 127.0.0.1 could not prove its key; refused")
    person.kill(signal.SIGINT)
    person.expect("stopped waiting")
    assert _exit_code(person) == 0
    failures = [e for e in _events(person_home, "invitation:") if e.type == "auth.failed"]
    assert [(e.payload["reason"], e.origin) for e in failures] == [("identity", "127.0.0.1")]
    assert _events(person_home) == []  # no session, nothing recorded as Bob
    rows = [json.loads(line) for line in _report(person_home, "failed-authentications")
            .splitlines()]
    assert [(row["origin"], row["failures"], row["reasons"]) for row in rows] == [
        ("127.0.0.1", 1, "identity")]
