"""The log at work: append, checkpoint, verify, tamper, catch.

The events of one assistance session are appended, a checkpoint is signed
and kept "off the machine", the log verifies; then an attacker edits who
released control, and later rebuilds the whole log under a new key, and
both are caught.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from ra.cli.common import say
from ra.events import Actor, Checkpoint, EventStore, NewEvent, verify_log
from ra.home import Home

PERSON = Actor("person", "alice")
HELPER = Actor("helper", "bob@helpdesk")

STORY: list[tuple[str, str, Actor, dict[str, object]]] = [
    ("invitation", "invitation.created", PERSON,
     {"name": "Alice", "message": "My printer vanished", "expires_in_s": 3600}),
    ("invitation", "invitation.sent", PERSON, {"channel": "file", "to": "RAInvitation.rainv"}),
    ("invitation", "invitation.opened", HELPER, {"origin": "127.0.0.1"}),
    ("session", "session.connected", HELPER, {"helper": "bob@helpdesk"}),
    ("session", "consent.requested", HELPER, {"scope": "view"}),
    ("session", "consent.granted", PERSON, {"scope": "view"}),
    ("session", "view.started", PERSON, {"monitor": "all"}),
    ("session", "control.requested", HELPER, {}),
    ("session", "control.granted", PERSON, {"scope": "mouse and keyboard"}),
    ("session", "control.released", PERSON, {"by": "person", "via": "esc"}),
    ("session", "chat.message", HELPER, {"text": "Printer is back. Bye!"}),
    ("session", "session.disconnected", HELPER, {"by": "helper", "reason": "user"}),
]


def log_story(root: Path) -> None:
    home = Home.at(root / "home")
    offsite = root / "offsite"
    offsite.mkdir(parents=True, exist_ok=True)

    say("A. A person asks for help; every step of the session becomes an event.")
    with EventStore.open(home) as store:
        versions: dict[str, int] = {}
        for kind, etype, actor, payload in STORY:
            stream = f"{kind}:demo-0001"
            [event] = store.append(stream, versions.get(stream, 0), [
                NewEvent(etype, payload, actor)
            ])
            versions[stream] = event.stream_version
            say(f"   seq {event.seq:>2}  {etype:<22} by {actor}")
        signed = store.checkpoint()
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

    say("\nE. A cleverer attacker rebuilds the whole log with the edit and signs it with a "
        "new key:")
    rebuilt = Home.at(root / "rebuilt")
    with EventStore.open(rebuilt) as forged:
        versions = {}
        for kind, etype, actor, payload in STORY:
            if etype == "control.released":
                payload = {**payload, "by": "helper"}
            stream = f"{kind}:demo-0001"
            [event] = forged.append(stream, versions.get(stream, 0), [
                NewEvent(etype, payload, actor)
            ])
            versions[stream] = event.stream_version
        forged.checkpoint()
    say("   verified on its own, the forgery looks fine:")
    _verify(rebuilt, None)
    say("   but against the checkpoint kept off the machine:")
    _verify(rebuilt, kept)
    say("\nThe log is the record: what it held, it keeps holding, or verification says "
        "where it changed.")


def _verify(home: Home, kept: Path | None) -> None:
    external = [Checkpoint.load(kept)] if kept is not None else []
    with EventStore.open(home) as store:
        report = verify_log(store, external)
    mark = "OK " if report.ok else "BAD"
    say(f"   [{mark}] {report.summary()}")
    for problem in report.other_problems[:2]:
        say(f"         also: {problem}")
