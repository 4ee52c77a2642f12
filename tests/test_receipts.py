"""Session receipts: signed at the end of a session, checked by `ra audit verify`."""

from __future__ import annotations

import sqlite3

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from support import HELPER, PERSON, rehash

from ra.events import EventStore, NewEvent, verify_log
from ra.events.receipts import Receipt, sign_receipt
from ra.events.store import SCHEMA, _statements
from ra.home import Home


def session(store: EventStore, session_id: str) -> None:
    stream = f"session:{session_id}"
    for version, (etype, actor) in enumerate([
        ("session.connected", HELPER), ("consent.granted", PERSON),
        ("control.granted", PERSON), ("control.released", PERSON),
        ("session.disconnected", HELPER),
    ]):
        store.append(stream, version, [NewEvent(etype, {"n": version}, actor)])


def test_receipts_exchanged_and_checked(home: Home, tmp_path) -> None:  # type: ignore[no-untyped-def]
    person_key, helper_key = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    with EventStore.open(home) as mine, EventStore.open(Home.at(tmp_path / "peer")) as theirs:
        session(mine, "abc")
        session(theirs, "abc")
        my_receipt = sign_receipt(mine, "abc", "person", person_key)
        their_receipt = Receipt.from_json(sign_receipt(theirs, "abc", "helper",
                                                       helper_key).to_json())
        assert my_receipt.events == 5 and my_receipt.signature_holds()
        assert their_receipt.signature_holds()
        mine.append("session:abc", 5, [NewEvent("session.receipt", {
            "mine": my_receipt.to_json(), "peer": their_receipt.to_json()}, PERSON)])
        mine.checkpoint()
        assert verify_log(mine).ok


def test_an_edit_after_the_session_breaks_its_receipt(home: Home) -> None:
    key = Ed25519PrivateKey.generate()
    with EventStore.open(home) as store:
        session(store, "xyz")
        receipt = sign_receipt(store, "xyz", "person", key)
        store.append("session:xyz", 5, [NewEvent("session.receipt", {
            "mine": receipt.to_json(), "peer": None}, PERSON)])
    # A thorough attacker: edits the grant, rewrites every hash and the tree, re-arms
    # the triggers, and signs a fresh checkpoint with the log key on this machine.
    db = sqlite3.connect(home.database)
    db.execute("DROP TRIGGER events_refuse_update")
    db.execute("UPDATE events SET body = replace(body, '\"n\":2', '\"n\":7') "
               "WHERE json_extract(body, '$.type') = 'control.granted'")
    rehash(db)
    for statement in _statements(SCHEMA):
        if statement.startswith("CREATE TRIGGER events_refuse_update"):
            db.execute(statement)
    db.commit()
    db.close()
    with EventStore.open(home) as store:
        store.checkpoint()
        report = verify_log(store)
    assert not report.ok
    assert any("no longer matches the receipt" in p.what for p in report.problems)
    assert report.first_problem is not None and report.first_problem.position == 5
