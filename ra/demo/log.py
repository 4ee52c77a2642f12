"""The log at work: a session recorded, checkpointed, verified, tampered with, caught.

Every event is made by the code a live session runs, so the log is the one
an auditor would read after a real session; only the sockets, the screen and
the wall clock are left out:

- the invitation: `Invitations` creates it, saves its file and records it
  sent, then records the helper opening and accepting it, as `ra invite
  create --save` and `ra ask` do;
- the session: two sans-IO session engines (`SessionEngine`), Alice's (the
  person) and Bob's (the helper), wired to each other in-process: a message
  one side sends is one the other has `received`, at the same moment. The
  events each side's engine hands out (`Record`) are appended to its own log,
  on the session's stream, before anything else of the same step is done
  (persist, then act), as `ra.session.driver` does; the other actions (a
  prompt shown, input injected, the screen streamed) are left undone. At the
  end each side signs a receipt of its stream and they swap them;
- time is an input: a scripted clock that starts a few minutes ago, so the
  story has real durations (`ra audit replay`) and every event is in the past.

Then a checkpoint of Alice's log is signed and kept "off the machine", the
log verifies; an attacker edits who released control, and later rebuilds the
whole log under a new key, and both are caught.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ra.cli.common import say
from ra.engine import Output, Record, Role, Send, SessionEngine
from ra.events import Actor, Checkpoint, EventStore, NewEvent, RecordedEvent, verify_log
from ra.events.model import Outcome, utc_now
from ra.events.receipts import RECEIPT_TYPE, Receipt, sign_receipt
from ra.home import Home
from ra.identity import load_identity
from ra.invitations import generate_password
from ra.invitations.service import Invitations
from ra.net.handshake import HelperSigner
from ra.session.seen import seen_before

PERSON = "Alice"
HELPER = "Bob"
#: Where Bob connects from: the demo's two sides are on one machine.
ADDRESS = "127.0.0.1"
#: How long before now the story starts: it lasts about four minutes.
STORY_AGO = timedelta(minutes=5)
KEY_P = {"kind": "key", "key": "p", "code": "KeyP", "down": True}


class Clock:
    """The demo's time: `start` plus the seconds the script has reached."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.t = 0.0

    def __call__(self) -> datetime:
        return self.start + timedelta(seconds=self.t)


class Side:
    """One side of the session: its engine, its log and the version of its stream."""

    def __init__(self, engine: SessionEngine, store: EventStore, session_id: str,
                 clock: Clock) -> None:
        self.engine = engine
        self.store = store
        self.session_id = session_id
        self.stream = f"session:{session_id}"
        self.clock = clock
        self.version = 0

    def perform(self, outputs: list[Output]) -> list[dict[str, Any]]:
        """Append the step's events (persist), then hand out what it sends (act)."""
        self.append([out.event for out in outputs if isinstance(out, Record)])
        return [out.message for out in outputs if isinstance(out, Send)]

    def append(self, events: list[NewEvent]) -> None:
        if events:
            recorded = self.store.append(self.stream, self.version, events, now=self.clock())
            self.version = recorded[-1].stream_version

    def receipt(self, key: Ed25519PrivateKey) -> Receipt:
        return sign_receipt(self.store, self.session_id, self.engine.role, key)


Step = Callable[[SessionEngine, float], list[Output]]
"""One engine input with everything but the engine and ``now`` bound."""


class Wire:
    """The two engines, wired in-process: each side's messages reach the other at once."""

    def __init__(self, person: Side, helper: Side, clock: Clock) -> None:
        self.sides: dict[Role, Side] = {"person": person, "helper": helper}
        self.clock = clock

    def at(self, t: float, role: Role, step: Step) -> None:
        """At `t` seconds into the story, `role`'s side takes `step`; messages flow."""
        self.clock.t = t
        pending: list[tuple[Role, Step]] = [(role, step)]
        while pending:
            who, act = pending.pop(0)
            side = self.sides[who]
            other: Role = "helper" if who == "person" else "person"
            for message in side.perform(act(side.engine, t)):
                pending.append((other, _receive(message)))


def _receive(message: dict[str, Any]) -> Step:
    return lambda engine, now: engine.received(message, now)


def record_session(root: Path) -> tuple[Home, Home, str]:
    """Alice invites Bob; they hold a session, recorded in both logs; (her home, his, id)."""
    person_home, helper_home = Home.at(root / "home"), Home.at(root / "helper")
    clock = Clock(utc_now() - STORY_AGO)
    session_id = secrets.token_hex(16)
    with EventStore.open(person_home) as alice_log, EventStore.open(helper_home) as bob_log:
        # Alice: `ra invite create --save RAInvitation.rainv`
        service = Invitations(alice_log, person_home, clock=clock)
        alice = Actor("person", PERSON)
        created = service.create(name=PERSON, message="My printer vanished",
                                 password=generate_password(), expires_in=timedelta(minutes=30),
                                 addresses=(ADDRESS,), actor=alice)
        saved = root / "RAInvitation.rainv"
        saved.write_bytes(service.file_bytes(created.view))
        view = service.record_sent(created.view, "file", str(saved.resolve()), alice)

        # Bob: `ra connect RAInvitation.rainv`; the handshake proves the password and his key
        clock.t = 95.0
        signer = HelperSigner(HELPER, load_identity(helper_home).signing_key)
        fingerprint = signer.identity.fingerprint
        bob = Actor("helper", HELPER, fingerprint)
        seen = seen_before(alice_log, HELPER, fingerprint)
        view = service.record_open(service.check_usable(view.id, ADDRESS), ADDRESS, bob)
        service.record_accept(view, ADDRESS, session_id, bob)

        person = Side(SessionEngine("person", PERSON, label=session_id[:8], recording=False),
                      alice_log, session_id, clock)
        helper = Side(SessionEngine("helper", HELPER, label=session_id[:8], key=fingerprint),
                      bob_log, session_id, clock)
        wire = Wire(person, helper, clock)
        wire.at(95.0, "person", lambda e, now: e.connected(HELPER, now, key=fingerprint,
                                                           address=ADDRESS, seen=seen))
        wire.at(95.0, "helper", lambda e, now: e.connected(PERSON, now))
        wire.at(95.2, "helper", lambda e, now: e.authenticated(now))
        wire.at(95.2, "person", lambda e, now: e.authenticated(now))  # asks to view
        wire.at(99.0, "person", lambda e, now: e.consent_answered("view", True, now))
        wire.at(130.0, "helper", lambda e, now: e.control_clicked(now))  # asks for control
        wire.at(133.5, "person", lambda e, now: e.consent_answered("control", True, now))
        for i in range(3):  # Bob types; Alice's side would inject it: no event
            wire.at(150.0 + i, "helper", lambda e, now: e.local_input(KEY_P, now))
        wire.at(205.0, "person", lambda e, now: e.esc_pressed(now))  # control is back
        wire.at(220.0, "helper", lambda e, now: e.chat("Printer is back. Bye!", now))
        wire.at(226.0, "person", lambda e, now: e.chat("Thank you, Bob!", now))
        wire.at(230.0, "helper", lambda e, now: e.disconnect_clicked(now))

        # each side signs a receipt of its stream, they swap them, each records both
        mine = person.receipt(load_identity(person_home).signing_key)
        theirs = helper.receipt(signer.key)
        person.append([NewEvent(RECEIPT_TYPE, {"mine": mine.to_json(), "peer": theirs.to_json()},
                                person.engine.person)])
        helper.append([NewEvent(RECEIPT_TYPE, {"mine": theirs.to_json(), "peer": mine.to_json()},
                                helper.engine.helper)])
    return person_home, helper_home, session_id


def log_story(root: Path) -> None:
    offsite = root / "offsite"
    offsite.mkdir(parents=True, exist_ok=True)

    say("A. Alice invites Bob, lets him see her screen and take control, and takes it back "
        "with Esc;\n   they chat and he leaves. Both sides' session engines run in-process "
        "(no network,\n   no screen), and every step becomes an event in Alice's log:")
    home, helper_home, session_id = record_session(root)
    with EventStore.open(home) as store:
        events = list(store.iter_events())
        for event in events:
            say(f"   seq {event.seq:>2}  {event.type:<22} by {event.actor}")
        signed = store.checkpoint()
    with EventStore.open(helper_home) as bob_log:
        theirs = sum(1 for _ in bob_log.iter_events(stream=f"session:{session_id}"))
    say(f"   Bob's log holds the session from his side ({theirs} events); at the end each "
        "side\n   signed a receipt of its record, and they swapped them.")
    kept = offsite / "checkpoint.json"
    kept.write_bytes(signed.to_file_bytes())
    say(f"\nB. A signed checkpoint ({signed.tree_size} events, root "
        f"{signed.root.hex()[:16]}…) is copied off the machine: {kept.name}")

    say("\nC. `ra audit verify` recomputes every hash and the root:")
    _verify(home, kept)

    say("\nD. An attacker drops the append-only triggers and edits who released control:")
    db = sqlite3.connect(home.database)
    db.executescript("DROP TRIGGER events_refuse_update;")
    db.execute(
        "UPDATE events SET body = replace(body, '\"by\":\"person\"', '\"by\":\"helper\"') "
        "WHERE json_extract(body, '$.type') = 'control.released'"
    )
    db.commit()
    db.close()
    _verify(home, kept)

    say("\nE. A cleverer attacker rebuilds the whole log with the edit, and signs it (and "
        "Alice's\n   receipt) with a new key:")
    rebuilt = Home.at(root / "rebuilt")
    _forge(events, rebuilt, session_id)
    say("   verified on its own, the forgery looks fine:")
    _verify(rebuilt, None)
    say("   but against the checkpoint kept off the machine:")
    _verify(rebuilt, kept)
    say("\nThe log is the record: what it held, it keeps holding, or verification says "
        "where it changed.")


def _forge(events: list[RecordedEvent], rebuilt: Home, session_id: str) -> None:
    """Every event again, in order and at its time, in a new log: control released by
    the helper, and Alice's receipt signed anew (by the new home's key) over the edit."""
    key = load_identity(rebuilt).signing_key
    with EventStore.open(rebuilt) as forged:
        for event in events:
            payload = dict(event.payload)
            if event.type == "control.released":
                payload["by"] = "helper"
            if event.type == RECEIPT_TYPE:
                payload["mine"] = sign_receipt(forged, session_id, "person", key).to_json()
            forged.append(event.stream, event.stream_version - 1, [
                NewEvent(event.type, payload, event.actor, cast(Outcome, event.outcome),
                         event.origin or None, event.schema_version)
            ], now=event.occurred_at)
        forged.checkpoint()


def _verify(home: Home, kept: Path | None) -> None:
    external = [Checkpoint.load(kept)] if kept is not None else []
    with EventStore.open(home) as store:
        report = verify_log(store, external)
    mark = "OK " if report.ok else "BAD"
    say(f"   [{mark}] {report.summary()}")
    for problem in report.other_problems[:2]:
        say(f"         also: {problem}")
