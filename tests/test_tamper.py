"""The tamper matrix: every way of altering the log is caught by `ra audit verify`.

Each test builds a real log, keeps a signed checkpoint "off the machine",
alters the SQLite file directly as an attacker would (dropping the
append-only triggers first), and runs the real `ra audit verify` command.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from support import fill, rehash, tamper

from ra.events import EventStore, NewEvent, merkle
from ra.events.store import SCHEMA, _statements
from ra.home import Home

SIZE = 12  # fill(): 3 streams x 4 events


@pytest.fixture
def kept(home: Home, tmp_path: Path) -> Path:
    """A log of SIZE events and a checkpoint of it kept outside RA_HOME."""
    with EventStore.open(home) as store:
        fill(store)
        signed = store.checkpoint()
    offsite = tmp_path / "offsite.checkpoint"
    offsite.write_bytes(signed.to_file_bytes())
    return offsite


def attack(home: Home, *sql: str) -> None:
    tamper(home.database, *sql)


def rewrite_hashes(home: Home) -> None:
    """What a careful attacker does next: recompute every leaf, the stream index
    and the tree state, and put the append-only triggers back."""
    db = sqlite3.connect(home.database)
    db.execute("DROP TRIGGER IF EXISTS events_refuse_update")
    rehash(db)
    for statement in _statements(SCHEMA):
        if statement.startswith("CREATE TRIGGER"):
            db.execute(statement)
    db.commit()
    db.close()


def verify(ra, kept: Path | None = None):  # type: ignore[no-untyped-def]
    args = ["audit", "verify", "--json"]
    if kept is not None:
        args += ["--checkpoint", str(kept)]
    result = ra(*args)
    assert "Traceback" not in result.stderr
    return result, json.loads(result.stdout)


def test_an_intact_log_verifies_with_a_one_line_summary(ra, kept: Path) -> None:  # type: ignore[no-untyped-def]
    result = ra("audit", "verify", "--checkpoint", str(kept))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"log intact: {SIZE} events")
    assert "1 stored and 1 external checkpoints verified" in lines[0]


def test_an_edited_payload_is_caught_at_its_position(ra, home: Home, kept: Path) -> None:  # type: ignore[no-untyped-def]
    attack(home, "UPDATE events SET body = replace(body, 'event 2 of s1', 'event 2 of sX') "
                 "WHERE seq = 6")
    result, report = verify(ra, kept)
    assert result.returncode == 1
    assert report["first_bad_position"] == 6
    assert "edited" in report["problems"][0]["what"]
    text = ra("audit", "verify")
    assert text.returncode == 1
    assert "seq 6" in text.stderr and "TAMPERED" in text.stderr


def test_an_edit_with_rewritten_hashes_is_caught_by_the_signed_checkpoint(
    ra, home: Home, kept: Path  # type: ignore[no-untyped-def]
) -> None:
    attack(home, "UPDATE events SET body = replace(body, '\"n\":1', '\"n\":9') WHERE seq = 5")
    rewrite_hashes(home)
    result, report = verify(ra)  # the stored checkpoint alone catches it
    assert result.returncode == 1
    assert any("stored checkpoint #1" in p["what"] and "were changed" in p["what"]
               for p in report["problems"])
    result, report = verify(ra, kept)
    assert any("external checkpoint #1" in p["what"] for p in report["problems"])


def test_a_deleted_row_is_caught(ra, home: Home, kept: Path) -> None:  # type: ignore[no-untyped-def]
    attack(home, "DELETE FROM events WHERE seq = 4")
    result, report = verify(ra, kept)
    assert result.returncode == 1
    assert report["first_bad_position"] == 4
    assert "missing" in report["problems"][0]["what"]


def test_an_inserted_row_is_caught(ra, home: Home, kept: Path) -> None:  # type: ignore[no-untyped-def]
    # Make room at seq 3 by moving every later row up by one, then forge an event there.
    with EventStore.open(home) as store:
        forged_body = store.event(3).body.replace(b'"n":3', b'"n":7')  # type: ignore[union-attr]
    attack(
        home,
        "UPDATE events SET seq = -seq - 1 WHERE seq >= 3",
        "UPDATE events SET seq = -seq WHERE seq < 0",
    )
    db = sqlite3.connect(home.database)
    forged = forged_body.decode().replace('"stream":"session:s0"', '"stream":"session:zz"')
    db.execute("INSERT INTO events (seq, body, span_stream, span_last, span_leaves) "
               "VALUES (3, ?, 'session:zz', 4, ?)", (forged, merkle.leaf_hash(forged.encode())))
    db.commit()
    db.close()
    rewrite_hashes(home)
    result, report = verify(ra, kept)
    assert result.returncode == 1
    assert report["first_bad_position"] in (3, 4)
    assert any("another position" in p["what"] for p in report["problems"])


def test_two_swapped_rows_are_caught(ra, home: Home, kept: Path) -> None:  # type: ignore[no-untyped-def]
    attack(
        home,
        "UPDATE events SET seq = -1 WHERE seq = 2",
        "UPDATE events SET seq = 2 WHERE seq = 7",
        "UPDATE events SET seq = 7 WHERE seq = -1",
    )
    result, report = verify(ra, kept)
    assert result.returncode == 1
    assert report["first_bad_position"] == 2
    assert "another position" in report["problems"][0]["what"]


def test_a_truncated_tail_is_caught_against_the_external_checkpoint(
    ra, home: Home, kept: Path  # type: ignore[no-untyped-def]
) -> None:
    # The attacker removes the last 3 events, every stored checkpoint, and fixes the tree state.
    attack(home, f"DELETE FROM events WHERE seq >= {SIZE - 3}", "DELETE FROM checkpoints")
    rewrite_hashes(home)
    result, report = verify(ra)
    assert result.returncode == 0, "without the kept checkpoint the shorter log looks whole"
    result, report = verify(ra, kept)
    assert result.returncode == 1
    assert report["first_bad_position"] == SIZE - 3
    assert "truncated" in report["problems"][0]["what"]


def test_a_log_rebuilt_and_resigned_with_a_new_key_is_caught(
    ra, home: Home, kept: Path, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    # The attacker replays every event but one into a fresh log with a fresh key,
    # and puts it in place of the real one.
    with EventStore.open(home) as store:
        events = list(store.iter_events())
    home.database.unlink()
    for suffix in ("-wal", "-shm"):
        Path(str(home.database) + suffix).unlink(missing_ok=True)
    home.log_key.unlink()
    with EventStore.open(home) as forged:
        for event in events:
            payload = dict(event.payload)
            if event.seq == 5:
                payload["n"] = 99
            forged.append(event.stream, event.stream_version - 1, [
                NewEvent(event.type, payload, event.actor, origin=event.origin)
            ])
        forged.checkpoint()
    result, _ = verify(ra)
    assert result.returncode == 0, "a consistent forgery verifies on its own"
    result, report = verify(ra, kept)
    assert result.returncode == 1
    whats = " | ".join(p["what"] for p in report["problems"])
    assert "not by this log's key" in whats
    assert "were changed" in whats


def test_a_relabelled_row_is_caught(ra, home: Home, kept: Path) -> None:  # type: ignore[no-untyped-def]
    # Hiding an event from `ra audit log --stream` by moving its span to another stream.
    attack(home, "UPDATE events SET span_stream = 'session:hidden' WHERE seq = 7")
    result, report = verify(ra, kept)
    assert result.returncode == 1
    assert report["first_bad_position"] == 7
    assert "the stream index says it is session:hidden version 4" in \
        report["problems"][0]["what"]


def test_dropped_triggers_alone_are_reported(ra, home: Home, kept: Path) -> None:  # type: ignore[no-untyped-def]
    attack(home)
    result, report = verify(ra, kept)
    assert result.returncode == 1
    assert "triggers were removed" in report["problems"][0]["what"]


def test_an_edited_checkpoint_file_is_refused(ra, kept: Path) -> None:  # type: ignore[no-untyped-def]
    data = kept.read_bytes()
    kept.write_bytes(data.replace(f'"tree_size":{SIZE}'.encode(), b'"tree_size":3'))
    result, report = verify(ra, kept)
    assert result.returncode == 1
    assert "signature does not hold" in report["problems"][0]["what"]


@pytest.mark.parametrize("content", [b"", b"not json", b'{"format":"ra-checkpoint"}'])
def test_a_broken_checkpoint_file_is_one_clear_line(ra, tmp_path: Path, content: bytes) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.checkpoint"
    bad.write_bytes(content)
    result = ra("audit", "verify", "--checkpoint", str(bad))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_database_that_is_not_sqlite_is_one_clear_line(ra, home: Home) -> None:  # type: ignore[no-untyped-def]
    home.ensure()
    home.database.write_bytes(b"this is not a database" * 100)
    result = ra("audit", "verify")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "cannot open the event log" in result.stderr


def test_replay_and_export_verify_the_log_before_telling_from_it(
    ra, home: Home, tmp_path: Path  # type: ignore[no-untyped-def]
) -> None:
    with EventStore.open(home) as store:
        fill(store, prefix="sess")
        store.checkpoint()
    intact = ra("audit", "replay", "session:sess1", "--json")
    assert intact.returncode == 0, intact.stderr
    assert json.loads(intact.stdout)["log"] == {"verified": True, "problem": None}
    assert ra("audit", "export", "--out", str(tmp_path / "before.zip")).returncode == 0

    # a careful attacker: the edited event's hashes and the tree are rewritten,
    # so the story reads as if nothing happened; the signed checkpoint tells
    attack(home, "UPDATE events SET body = replace(body, '\"n\":1', '\"n\":9') WHERE seq = 5")
    rewrite_hashes(home)
    told = ra("audit", "replay", "session:sess1", "--instant")
    assert told.returncode == 1
    assert told.stderr.startswith("ra: WARNING: the log does not verify (log TAMPERED: ")
    assert "stored checkpoint #1" in told.stderr and "Traceback" not in told.stderr
    assert told.stdout.startswith("session sess1\n")  # the story is still told, after the warning
    as_json = ra("audit", "replay", "session:sess1", "--json")
    assert as_json.returncode == 1
    log = json.loads(as_json.stdout)["log"]
    assert log["verified"] is False and "stored checkpoint #1" in log["problem"]
    video = ra("audit", "replay", "session:sess1", "--video", str(tmp_path / "sess1.mp4"))
    assert video.returncode == 1  # the screen path says it too (this session has no screen)
    assert video.stderr.startswith("ra: WARNING: the log does not verify")
    assert "no screen to export" in video.stdout

    out = tmp_path / "after.zip"
    refused = ra("audit", "export", "--out", str(out))
    assert refused.returncode == 1
    assert not out.exists()  # nothing is signed over what an attacker wrote
    assert len(refused.stderr.strip().splitlines()) == 1, refused.stderr
    assert "the log does not verify" in refused.stderr
    assert "nothing was exported" in refused.stderr
