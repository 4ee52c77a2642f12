"""Forgetting a session's chat: sealed in the log, readable while its key lives,
gone for good once `ra audit forget` (or retention) destroys the key.

A real person's `SessionDriver` over real TLS on loopback writes a real SQLite
log (the helper is a raw client); then the real `ra` command reads, forgets and
verifies it. "Nowhere in RA_HOME" is checked by reading every file byte by byte,
the database's ``-wal`` included.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs
from support import expect_message
from test_net_handshake import HELPER as SIGNER
from test_net_handshake import LOOPBACK, PASSWORD, make_invitation

from ra.engine import SessionEngine
from ra.events import Actor, EventStore, NewEvent, verify_log
from ra.forget import apply_retention
from ra.home import Home
from ra.identity import load_identity
from ra.invitations.keystore import derive_pake_secret
from ra.invitations.service import Invitations
from ra.net import Channel, InvitationSecret, connect, serve
from ra.sealed_chat import ChatReader, ChatSealer
from ra.session.driver import SessionDriver, Terminal
from ra.session_keys import SessionKeys

T = 10.0
FROM_HELPER = "the vault code is 5521-orchid"
FROM_PERSON = "my banking pin is 8830, zebra"
HELPER = Actor("helper", "bob")
PERSON = Actor("person", "alice")


def grep(root: Path, text: str) -> list[Path]:
    """Every file under `root` whose bytes hold `text` (UTF-8), like `grep -r`."""
    needle = text.encode("utf-8")
    return [path for path in root.rglob("*") if path.is_file() and needle in path.read_bytes()]


def chat_session(home: Home) -> str:
    """A session on the person's side: the person writes, the helper answers twice and
    leaves. Returns the session id. The home is grepped before the log is closed too,
    while the WAL still holds the appends."""
    identity = load_identity(home)
    result: dict[str, Any] = {}

    async def scenario() -> None:
        ended = asyncio.Event()
        with EventStore.open(home) as store:
            secrets: dict[str, InvitationSecret] = {}
            drivers: list[SessionDriver] = []

            async def on_authenticated(channel: Channel, inv_id: str, origin: str) -> None:
                engine = SessionEngine("person", "alice")
                driver = SessionDriver(engine, channel, store, channel.session_id,
                                       Terminal(out=io.StringIO(), inp=io.StringIO()),
                                       peer_origin=origin)
                drivers.append(driver)
                try:
                    result["reason"] = await driver.run(
                        [lambda now: engine.connected("bob", now), engine.authenticated])
                finally:
                    ended.set()

            server = await serve(
                LOOPBACK, 0, identity, secret_for=lambda inv_id: secrets[inv_id],
                check=lambda inv_id, origin: None,
                on_auth_failed=lambda inv_id, origin: None,
                on_authenticated=on_authenticated)
            try:
                invitation = make_invitation(identity, server.sockets[0].getsockname()[1])
                secrets[invitation.invitation_id] = InvitationSecret(
                    invitation, derive_pake_secret(PASSWORD, invitation.pake))
                channel = await connect(invitation, PASSWORD, SIGNER)
                result["session"] = channel.session_id
                await expect_message(channel, "consent", scope="view", status="requested")
                driver = drivers[0]
                await driver.feed(lambda now: driver.engine.chat(FROM_PERSON, now))
                told = await expect_message(channel, "chat")
                assert told["text"] == FROM_PERSON  # the peer gets it in the clear (TLS)
                await channel.send_json({"type": "chat", "text": FROM_HELPER})
                await channel.send_json({"type": "chat", "text": FROM_HELPER + " again"})
                await channel.send_json({"type": "disconnect"})
                await asyncio.wait_for(ended.wait(), T)
                result["during"] = grep(home.root, FROM_HELPER) + grep(home.root, FROM_PERSON)
                await channel.close()
            finally:
                server.close()
                await server.wait_closed()

    with capture_logs() as logged:
        asyncio.run(asyncio.wait_for(scenario(), 60))
    assert result["reason"] == "helper"
    assert logged and FROM_HELPER not in repr(logged) and FROM_PERSON not in repr(logged)
    assert result["during"] == []  # not even in the WAL while the log was open
    return str(result["session"])


def chat_texts(home: Home, session_id: str) -> list[str]:
    with EventStore.open(home) as store:
        reader = ChatReader(SessionKeys(home))
        return [reader.read(e).shown() for e in store.read_stream(f"session:{session_id}")
                if e.type == "chat.message"]


def test_chat_is_sealed_in_the_log_and_readable_with_its_key(home: Home, ra: Any) -> None:
    session_id = chat_session(home)
    assert grep(home.root, FROM_HELPER) == []
    assert grep(home.root, FROM_PERSON) == []
    with EventStore.open(home) as store:
        chats = [e for e in store.read_stream(f"session:{session_id}")
                 if e.type == "chat.message"]
    assert [e.payload["from"] for e in chats] == ["person", "helper", "helper"]
    assert all(set(e.payload["text"]) == {"sealed"} for e in chats)
    key = home.keystore_dir / "sessions" / f"{session_id}.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert (home.keystore_dir / "sessions").stat().st_mode & 0o777 == 0o700
    assert chat_texts(home, session_id) == [FROM_PERSON, FROM_HELPER, FROM_HELPER + " again"]
    shown = ra("audit", "log", "--stream", session_id[:8], check=True).stdout
    assert FROM_HELPER in shown and FROM_PERSON in shown


def test_forget_destroys_the_key_and_the_log_still_verifies(home: Home, ra: Any) -> None:
    session_id = chat_session(home)
    with EventStore.open(home) as store:
        before = store.size()
    done = ra("audit", "forget", session_id[:8], "--why", "erasure request 1234", "--json",
              check=True)
    answer = json.loads(done.stdout)
    assert answer["recorded"] is True and answer["key_destroyed"] is True
    assert answer["session"] == f"session:{session_id}"
    assert not (home.keystore_dir / "sessions" / f"{session_id}.key").exists()
    with EventStore.open(home) as store:
        assert verify_log(store).ok
        assert store.size() == before + 1  # every event stays; one is added
        last = store.read_stream(f"session:{session_id}")[-1]
        assert last.type == "session.forgotten"
        assert last.payload == {"why": "erasure request 1234", "by": "operator"}
        assert last.actor.kind == "operator"
    assert chat_texts(home, session_id) == ["(forgotten)"] * 3
    shown = ra("audit", "log", "--stream", session_id[:8], check=True).stdout
    assert "(forgotten)" in shown and FROM_HELPER not in shown
    assert "session.forgotten" in shown
    assert ra("audit", "verify").returncode == 0
    for text in (FROM_HELPER, FROM_PERSON, "orchid", "zebra"):
        assert grep(home.root, text) == []
    # Again: nothing new is recorded, and it says so.
    again = ra("audit", "forget", session_id, "--why", "twice", check=True)
    assert "already forgotten" in again.stdout
    with EventStore.open(home) as store:
        assert store.size() == before + 1


def test_a_forgotten_session_never_gets_a_key_again(home: Home) -> None:
    keys = SessionKeys(home)
    sealer = ChatSealer(keys, "session:s1")
    with EventStore.open(home) as store:
        store.append("session:s1", 0, sealer.seal(
            [NewEvent("chat.message", {"from": "helper", "text": "first"}, HELPER)], 1))
        assert keys.destroy("s1") is True
        assert keys.key_for("s1", "chat") is None  # not made again
        store.append("session:s1", 1, sealer.seal(
            [NewEvent("chat.message", {"from": "person", "text": "after"}, PERSON)], 2))
        events = store.read_stream("session:s1")
    assert events[1].payload["text"] == {"forgotten": True}
    assert grep(home.root, "after") == [] and grep(home.root, "first") == []
    reader = ChatReader(keys)
    assert [reader.read(e).status for e in events] == ["forgotten", "forgotten"]


def test_a_sealed_text_moved_to_another_event_does_not_open(home: Home) -> None:
    keys = SessionKeys(home)
    sealer = ChatSealer(keys, "session:s2")
    with EventStore.open(home) as store:
        [one, two] = store.append("session:s2", 0, sealer.seal(
            [NewEvent("chat.message", {"from": "helper", "text": "one"}, HELPER),
             NewEvent("chat.message", {"from": "helper", "text": "two"}, HELPER)], 1))
        moved = one._replace(payload=two.payload)
    reader = ChatReader(keys)
    assert reader.read(one).shown() == "one"
    assert reader.read(moved).status == "unreadable"


def test_plain_text_chat_of_an_earlier_version_cannot_be_forgotten(home: Home, ra: Any) -> None:
    with EventStore.open(home) as store:
        store.append("session:0ld5e55", 0, [
            NewEvent("session.connected", {"peer": "bob"}, HELPER),
            NewEvent("chat.message", {"from": "helper", "text": "kept in the clear"}, HELPER)])
        size = store.size()
    assert "kept in the clear" in ra("audit", "log", check=True).stdout  # still readable
    refused = ra("audit", "forget", "0ld5e55", "--why", "erasure")
    assert refused.returncode == 2
    assert refused.stderr.count("\n") == 1 and "plain text" in refused.stderr
    assert "Traceback" not in refused.stderr
    with EventStore.open(home) as store:
        assert store.size() == size  # nothing pretends it was forgotten


def test_forget_refuses_what_is_not_a_session(home: Home, ra: Any) -> None:
    with EventStore.open(home) as store:
        store.append("invitation:abcdef12", 0,
                     [NewEvent("invitation.opened", {"origin": "127.0.0.1"}, PERSON)])
    for args in (["invitation:abcdef12"], ["session:nothere"]):
        refused = ra("audit", "forget", *args, "--why", "x")
        assert refused.returncode == 2, refused.stderr
        assert refused.stderr.count("\n") == 1
    refused = ra("audit", "forget", "abcdef12", "--why", "  ")
    assert refused.returncode == 2 and "--why" in refused.stderr


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def _chat_at(store: EventStore, keys: SessionKeys, session_id: str, text: str) -> None:
    stream = f"session:{session_id}"
    version = store.stream_version(stream)
    store.append(stream, version, ChatSealer(keys, stream).seal(
        [NewEvent("chat.message", {"from": "helper", "text": text}, HELPER)], version + 1))


def test_retention_forgets_what_is_due_and_nothing_else(home: Home, ra: Any) -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    clock = Clock(now - timedelta(days=40))
    keys = SessionKeys(home)
    with EventStore.open(home, clock=clock) as store:
        _chat_at(store, keys, "old1", "forty days old")
        _chat_at(store, keys, "busy", "old chat of a session still going")
        clock.now = now - timedelta(days=31)
        _chat_at(store, keys, "old2", "thirty-one days old")
        clock.now = now - timedelta(days=29)
        _chat_at(store, keys, "new1", "twenty-nine days old")
        store.append("session:nochat", 0, [NewEvent("session.connected", {"peer": "b"}, HELPER)])
        clock.now = now - timedelta(days=1)
        _chat_at(store, keys, "busy", "yesterday")
        store.append("session:plain", 0, [  # an earlier ra's chat: left alone
            NewEvent("chat.message", {"from": "helper", "text": "plain"}, HELPER)])
    keys.key_for("plain", "chat")  # a key beside plain-text chat: still not forgotten
    keys.key_for("elsewhere", "chat")  # a key of no session in this log: not ours to judge
    # Without the setting nothing happens.
    with EventStore.open(home) as store:
        assert Invitations(store, home, clock=lambda: now).forgotten == []
    home.config.write_text('[helper]\nname = "x"\n\n[retention]\nchat = "30d"\n')
    with EventStore.open(home) as store:
        size = store.size()
        done = Invitations(store, home, clock=lambda: now).forgotten
        assert sorted(d.stream for d in done) == ["session:old1", "session:old2"]
        assert store.size() == size + 2
        for stream in ("session:old1", "session:old2"):
            last = store.read_stream(stream)[-1]
            assert (last.type, last.payload, last.actor.kind) == (
                "session.forgotten", {"why": "retention 30d", "by": "system"}, "system")
        for stream in ("session:new1", "session:busy", "session:nochat", "session:plain"):
            assert store.read_stream(stream)[-1].type != "session.forgotten"
        assert verify_log(store).ok
        # Checked again on the next start: nothing more is due, nothing is repeated.
        assert apply_retention(store, home, now=now) == []
        assert store.size() == size + 2
    assert sorted(keys.ids()) == ["busy", "elsewhere", "new1", "plain"]
    assert grep(home.root, "forty days old") == []
    assert chat_texts(home, "new1") == ["twenty-nine days old"]
    assert chat_texts(home, "old1") == ["(forgotten)"]


def test_retention_runs_when_a_command_starts(home: Home, ra: Any) -> None:
    keys = SessionKeys(home)
    old = datetime.now(UTC) - timedelta(days=10)
    with EventStore.open(home, clock=lambda: old) as store:
        _chat_at(store, keys, "oldone", "ten days ago")
    home.config.write_text('[retention]\nchat = "1w"\n')
    ra("audit", "checkpoint", check=True)
    assert keys.ids() == []
    with EventStore.open(home) as store:
        assert store.read_stream("session:oldone")[-1].payload["why"] == "retention 1w"
    home.config.write_text('[retention]\nchat = "soon"\n')
    wrong = ra("audit", "checkpoint")
    assert wrong.returncode != 0 and wrong.stderr.count("\n") == 1
    assert "[retention] chat" in wrong.stderr


def test_session_keys_are_private_and_made_once(home: Home) -> None:
    keys = SessionKeys(home)
    assert keys.key_for("abc", "chat", create=False) is None
    assert not (home.keystore_dir / "sessions").exists()  # reading creates nothing
    first = keys.key_for("abc", "chat")
    assert first is not None and len(first) == 32
    assert keys.key_for("abc", "chat") == first == keys.key_for("abc", "chat", create=False)
    assert keys.key_for("abd", "chat") != first
    path = home.keystore_dir / "sessions" / "abc.key"
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert keys.destroy("abc") is True and not path.exists()
    assert keys.destroy("abc") is False
    for bad in ("../x", "a/b", ".hidden", ""):
        try:
            keys.key_for(bad, "chat")
        except Exception as exc:  # noqa: BLE001 - the type is checked below
            assert type(exc).__name__ == "SessionKeyError"
        else:
            raise AssertionError(f"{bad!r} was taken as a session id")
