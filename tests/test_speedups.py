"""The C loops of the append path (`ra/events/_speedups.c`) against the Python
they stand in for: the same bytes, the same hashes, the same verdicts, the
same errors; and what they decline goes to the Python."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import support
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ra.events import Actor, EventStore, NewEvent, model
from ra.events import merkle as merkle_module
from ra.events.merkle import Frontier, MerkleError
from ra.events.model import EventError, encode_batch
from ra.events.verify import verify_log

C = support.speedups()
ROOT = Path(__file__).resolve().parent.parent


def test_ra_uses_the_c_loops_unless_told_not_to() -> None:
    from ra.events.speedups import speedups

    if os.environ.get("RA_PURE_PYTHON"):
        assert speedups is None and model.stamp_now is model._py_stamp_now
    else:
        assert speedups is C
        assert model.stamp_now is C.stamp_now and model._uuid7_run is C.uuid7_run
        assert model.events_valid is C.valid and merkle_module._speedups is C


# -- SHA-256 ---------------------------------------------------------------------


@pytest.mark.parametrize("portable", [False, True])
def test_sha256_matches_hashlib_at_every_padding_boundary(portable: bool) -> None:
    # FIPS 180-2 examples first, then each length around the 64-byte blocks.
    assert C.sha256(b"abc", portable).hex() == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    two_blocks = b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
    assert C.sha256(two_blocks, portable).hex() == (
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
    for n in [*range(0, 260), 1000, 4095, 4096, 65537]:
        data = bytes((i * 7 + n) & 0xFF for i in range(n))
        assert C.sha256(data, portable) == hashlib.sha256(data).digest(), n


@given(st.binary(max_size=2000))
def test_sha256_matches_hashlib_on_any_bytes(data: bytes) -> None:
    expected = hashlib.sha256(data).digest()
    assert C.sha256(data) == expected
    assert C.sha256(data, True) == expected


def test_sha_ni_is_used_where_the_processor_has_it() -> None:
    flags = set()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    has = {"sha_ni", "sse4_1", "ssse3"} <= flags
    assert C.SHA256_BLOCKS == ("sha-ni" if has else "portable")


# -- encode ----------------------------------------------------------------------

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), _text,
)
_values = st.recursive(
    _scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(_text, inner, max_size=3)),
    max_leaves=8,
)
_events = st.builds(
    NewEvent,
    type=st.sampled_from(["consent.granted", "control.released", "chat.sent", "a_b.c9"]),
    payload=st.dictionaries(_text, _values, max_size=5),
    actor=st.builds(Actor, st.sampled_from(["person", "helper"]), _text.filter(bool)),
    outcome=st.sampled_from(["success", "failure", "denied"]),
    origin=st.one_of(st.none(), _text),
    schema_version=st.one_of(st.integers(1, 5), st.integers(2**63 - 2, 2**66)),
)


def _both(monkeypatch: pytest.MonkeyPatch, events: list[NewEvent], **fields: Any) -> Any:
    """encode_batch's result on the C loop and on the Python loop, same ids."""
    monkeypatch.setattr(model, "_uuid7_run", lambda count, now_ms=None: (
        "01a2b3c4-d5e6-7f00-8abc-", 0xFFFF_FFFF_FF00))
    made = []
    for loop in (C, None):
        monkeypatch.setattr(model, "_speedups", loop)
        rows, leaves, records = encode_batch(events, **fields)
        made.append((rows, leaves, list(records)))
    return made


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(events=st.lists(_events, min_size=1, max_size=6),
       first_seq=st.integers(0, 2**40), first_version=st.integers(1, 2**40),
       origin=_text)
def test_encode_writes_what_the_python_loop_writes(
    monkeypatch: pytest.MonkeyPatch, events: list[NewEvent], first_seq: int,
    first_version: int, origin: str,
) -> None:
    for event in events:
        event.validate()
    fields = dict(first_seq=first_seq, first_version=first_version, stream="session:s-1",
                  occurred_at="2026-12-05T10:00:00.000001Z", origin=origin, now_ms=1)
    (c_rows, c_leaves, c_records), (rows, leaves, records) = _both(monkeypatch, events, **fields)
    assert c_rows == rows
    assert c_leaves == leaves
    assert c_records == records
    for record, leaf in zip(records, leaves, strict=True):
        assert hashlib.sha256(b"\x00" + record.body).digest() == leaf
        assert record.body.decode() == model.encode_envelope(
            events[record.seq - first_seq], seq=record.seq, event_id=record.event_id,
            stream="session:s-1", stream_version=record.stream_version,
            occurred_at=record.occurred_at, origin=origin)


def test_flat_payloads_are_written_as_the_reference_encoder_writes_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Flat payloads are written by the C itself: every code point of the
    # first two planes in keys and values (escapes, controls, quotes, DEL,
    # U+2028), keys sorted by code point, ints at the 64-bit edges.
    points = [chr(c) for c in range(0x20000) if not 0xD800 <= c <= 0xDFFF]
    payloads: list[dict[str, Any]] = [
        {"".join(points[i:i + 700]): "".join(points[i + 700:i + 1400]), "n": -(2**63),
         "m": 2**63 - 1, "t": True, "f": False, "z": None}
        for i in range(0, len(points), 1400)
    ]
    payloads.append({chr(c): c for c in range(0, 32)} | {"\x7f": "\\\"", "é": "\u2028"})
    payloads.append({f"k{i}": i for i in range(40)})  # more keys than the C sorts itself
    payloads.append({"big": 2**63, "bigger": -(2**64)})  # past its 64 bits
    for payload in payloads:
        events = [NewEvent("consent.granted", payload)]
        (c_rows, _, _), (rows, _, _) = _both(
            monkeypatch, events, first_seq=0, first_version=1, stream="session:x",
            occurred_at="2026-12-05T10:00:00.000000Z", origin="h", now_ms=1)
        assert c_rows == rows
        assert model.canonical.dumps(payload) in str(c_rows[1])


def test_encode_now_dates_events_and_ids_with_one_clock_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import uuid
    from datetime import UTC, datetime, timedelta

    events = _plain(3)
    for loop in (C, None):
        monkeypatch.setattr(model, "_speedups", loop)
        before = datetime.now(UTC)
        rows, leaves, records = model.encode_now(events, 7, 2, "session:x", "host")
        after = datetime.now(UTC)
        assert [r.seq for r in records] == [7, 8, 9] and rows[3] == 4
        for record, leaf in zip(records, leaves, strict=True):
            assert before - timedelta(microseconds=1) <= record.occurred_at <= after
            millis = uuid.UUID(record.event_id).int >> 80
            epoch = datetime(1970, 1, 1, tzinfo=UTC)
            assert millis == (record.occurred_at - epoch) // timedelta(milliseconds=1)
            assert hashlib.sha256(b"\x00" + record.body).digest() == leaf
            assert record.body.decode() == model.encode_envelope(
                events[record.seq - 7], seq=record.seq, event_id=record.event_id,
                stream="session:x", stream_version=record.stream_version,
                occurred_at=record.occurred_at, origin="host")


def _plain(n: int = 2) -> list[NewEvent]:
    events = [NewEvent("consent.granted", {"n": i, "who": "é\"x"}, support.HELPER)
              for i in range(n)]
    for event in events:
        event.validate()
    return events


def test_encode_takes_the_common_case_itself() -> None:
    made = C.encode(_plain(3), 10, 4, "session:x", "2026-12-05T10:00:00.000000Z", '"host"',
                    "01a2b3c4-d5e6-7f00-8abc-", 5)
    assert made is not None
    rows, leaves = made
    assert rows[0] == 10 and rows[2:4] == ["session:x", 6] and rows[5] == 11 and rows[7] == 12
    assert rows[4] == b"".join(leaves) and len(leaves) == 3


class _Number(int):
    pass


@pytest.mark.parametrize("payload", [
    {"n": 2**64},  # past orjson's ints
    {"n": [1, {"m": _Number(3)}]},  # a subclass of int
])
def test_encode_declines_what_orjson_will_not_write(
    monkeypatch: pytest.MonkeyPatch, payload: dict[str, Any],
) -> None:
    events = [NewEvent("consent.granted", payload)]
    assert C.encode(events, 0, 1, "session:x", "T", '"h"', "p-", 1) is None
    (c_rows, _, _), (rows, _, _) = _both(
        monkeypatch, events, first_seq=0, first_version=1, stream="session:x",
        occurred_at="2026-12-05T10:00:00.000000Z", origin="h", now_ms=1)
    assert c_rows == rows and '"n":' in str(rows[1])


def test_encode_declines_past_64_bit_numbers_and_bad_text() -> None:
    ok = ("session:x", "T", '"h"', "p-")
    assert C.encode(_plain(), 2**63, 1, *ok, 1) is None
    assert C.encode(_plain(), 0, 2**64, *ok, 1) is None
    assert C.encode([NewEvent("consent.granted", schema_version=2**64)], 0, 1, *ok, 1) is None
    assert C.encode(_plain(), 0, 1, *ok, 2**48 - 1) is None  # the last group would overflow
    assert C.encode(_plain(), 0, 1, "session:\udc80", "T", '"h"', "p-", 1) is None


@pytest.mark.parametrize("loop", ["c", "python"])
def test_text_that_is_not_unicode_is_refused_on_either_loop(
    monkeypatch: pytest.MonkeyPatch, loop: str,
) -> None:
    monkeypatch.setattr(model, "_speedups", C if loop == "c" else None)
    for event in (NewEvent("consent.granted", {"x": "\udc80"}),
                  NewEvent("consent.granted", origin="h\ud800")):
        with pytest.raises(EventError, match="not valid Unicode"):
            encode_batch([event], first_seq=0, first_version=1, stream="session:x",
                         occurred_at="T", origin="h")


# -- extend ----------------------------------------------------------------------


@given(start=st.integers(0, 300), chunks=st.lists(st.integers(0, 40), max_size=8))
def test_extend_grows_the_frontier_as_the_python_loop_does(start: int, chunks: list[int]) -> None:
    leaves = [hashlib.sha256(b"%d" % i).digest() for i in range(start + sum(chunks))]
    base = Frontier()
    base.extend(leaves[:start])
    stack, size = list(base.hashes), start
    python = Frontier.from_bytes(start, base.to_bytes())
    at = start
    for n in chunks:
        size = C.extend(stack, size, leaves[at:at + n])
        python_extend(python, leaves[at:at + n])
        at += n
        assert size == python.size and tuple(stack) == python.hashes
    assert merkle_module.root(leaves) == Frontier.from_bytes(size, b"".join(stack)).root()


def python_extend(frontier: Frontier, leaves: list[bytes]) -> None:
    saved = merkle_module._speedups
    merkle_module._speedups = None
    try:
        frontier.extend(leaves)
    finally:
        merkle_module._speedups = saved


def test_extend_declines_what_is_not_32_bytes_and_changes_nothing() -> None:
    good = hashlib.sha256(b"x").digest()
    stack: list[bytes] = []
    assert C.extend(stack, 0, [good, bytearray(good)]) is None
    assert C.extend(stack, 0, [good, good[:31]]) is None
    assert stack == []
    frontier = Frontier()
    frontier.extend([good, bytearray(good)])  # the Python loop takes a bytearray
    assert frontier.size == 2
    with pytest.raises(MerkleError, match="must be 32 bytes, got 31"):
        frontier.extend([good[:31]])


# -- valid -----------------------------------------------------------------------


def test_valid_passes_only_what_validate_passes_at_once() -> None:
    good = NewEvent("consent.granted", {"a": 1, "b": "x", "c": None, "d": True}, support.HELPER)
    good.validate()
    model.validate_stream("session:v")
    assert C.valid([good, good], "session:v") is True
    assert C.valid((), "session:v") is True
    assert C.valid([good], "session:never-validated") is False
    assert C.valid([good], 42) is False
    not_at_once = [
        NewEvent("never.seen_before", {}),                   # a type not yet known good
        NewEvent("consent.granted", {"a": 1.5}),             # a float
        NewEvent("consent.granted", {"a": [1]}),             # not flat
        NewEvent("consent.granted", {1: "x"}),               # type: ignore[dict-item]
        NewEvent("consent.granted", outcome="maybe"),        # type: ignore[arg-type]
        NewEvent("consent.granted", actor="me"),             # type: ignore[arg-type]
        NewEvent("consent.granted", actor=Actor("", "x")),   # an actor without JSON
        NewEvent("consent.granted", schema_version=0),
        NewEvent("consent.granted", schema_version=True),
        NewEvent("consent.granted", schema_version=2**64),
    ]
    for event in not_at_once:
        assert C.valid([good, event], "session:v") is False, event


# -- the clock and ids in a forked child ------------------------------------------


def test_a_forked_child_draws_its_own_id_bits() -> None:
    # A millisecond later than any id yet: each side takes the next 80 bits
    # of its pool, which the child must not share with its parent.
    later = time.time_ns() // 1_000_000 + 60_000
    C.uuid7_run(1)  # the pool is filled
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        prefix, low = C.uuid7_run(1, later)
        os.write(write, f"{prefix}{low:012x}".encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    os.close(read)
    prefix, low = C.uuid7_run(1, later)
    parent = f"{prefix}{low:012x}"
    C.uuid7_forget()  # ids go back to the clock's millisecond
    assert child[:13] == parent[:13] and child[14:] != parent[14:]


# -- a log both loops wrote --------------------------------------------------------


def test_a_log_appended_by_both_loops_verifies(tmp_path: Path) -> None:
    path = tmp_path / "log.db"
    key = tmp_path / "log.key"
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from ra.events import EventStore, NewEvent\n"
        "from ra.events.speedups import speedups\n"
        "assert speedups is None\n"
        "store = EventStore(sys.argv[1], key_path=Path(sys.argv[2]))\n"
        "for i in range(40):\n"
        "    event = NewEvent('chat.sent', {'i': i, 'big': 2**70})\n"
        "    store.append(f'session:{i % 3}', None, [event])\n"
        "events = [NewEvent('chat.sent', {'j': j}) for j in range(30)]\n"
        "store.append('session:batch', None, events)\n"
        "store.close()\n"
    )
    env = {**os.environ, "RA_PURE_PYTHON": "1", "PYTHONPATH": str(ROOT)}
    with EventStore(path, key_path=key) as store:
        for i in range(40):
            store.append(f"session:{i % 3}", None, [NewEvent("chat.sent", {"i": i})])
        subprocess.run([sys.executable, "-c", script, str(path), str(key)], env=env, check=True)
        store.append("session:0", None, _plain(50))  # catches up on the other's leaves
        store.checkpoint()
        bodies = [r.body for r in store.iter_events()]
        report = verify_log(store)
    assert report.ok, report.problems
    assert len(bodies) == 40 + 40 + 30 + 50
    assert b'"big":1180591620717411303424' in bodies[45]


# -- run_check: verify's text checks -------------------------------------------------


def test_run_check_agrees_with_the_python_text_check(tmp_path: Path) -> None:
    import random

    from ra.events.verify import _SELECT, _py_run_check

    with EventStore(tmp_path / "log.db", key_path=tmp_path / "k") as store:
        store.append("session:a", 0, [NewEvent("chat.sent", {"i": i}) for i in range(40)])
        rows = store.conn.execute(f"{_SELECT} ORDER BY seq").fetchall()
    assert C.run_check(rows, 0, 40, b"session:a", 1) == (40, [])
    randomly = random.Random(7)
    edits = [
        lambda b: b.replace(b'"seq":', b'"seq":1', 1),                  # another seq
        lambda b: b.replace(b'"session:a"', b'"session:b"'),            # another stream
        lambda b: b.replace(b'"stream_version":', b'"stream_version":9'),  # another version
        lambda b: b.replace(b',"seq":', b',"sequence":'),               # no seq key
        lambda b: b[:20],                                               # cut short
        lambda b: b + b',"seq":1}',                                     # a later seq key
    ]
    for _ in range(300):
        tampered = list(rows)
        for k in randomly.sample(range(40), randomly.randint(0, 4)):
            row = list(tampered[k])
            row[1] = randomly.choice(edits)(row[1])
            tampered[k] = tuple(row)
        if randomly.random() < 0.3:  # a span starting inside the run
            k = randomly.randrange(1, 40)
            tampered[k] = (*tampered[k][:3], 99, tampered[k][4])
        i = randomly.randrange(0, 39)
        j = randomly.randrange(i + 1, 41)
        version = 1 + i + randomly.choice([0, 0, 0, 1])
        expected = _py_run_check(tampered, i, j, b"session:a", version)
        assert C.run_check(tampered, i, j, b"session:a", version) == expected
    with pytest.raises(TypeError):
        C.run_check(rows, 0, 40, "session:a", 1)  # the stream as verify reads it: bytes
    assert C.run_check(rows, 0, 40, b"session:a", 2**64) is None  # the Python's to check


def test_verify_reports_the_same_problems_on_either_loop(tmp_path: Path) -> None:
    path, key = tmp_path / "log.db", tmp_path / "k"
    with EventStore(path, key_path=key) as store:
        for i in range(6):
            store.append(f"session:{i % 2}", None,
                         [NewEvent("chat.sent", {"i": i, "j": j}) for j in range(5)])
        store.checkpoint()
    support.tamper(
        path,
        "UPDATE events SET body = replace(body, '\"i\":2', '\"i\":7') WHERE seq = 11",
        "UPDATE events SET body = replace(body, '\"seq\":14', '\"seq\":15') WHERE seq = 14",
        "UPDATE events SET span_stream = 'session:9' WHERE seq = 20",
    )
    script = (
        "import json, sys\n"
        "from pathlib import Path\n"
        "from ra.events import EventStore\n"
        "from ra.events.verify import verify_log\n"
        "with EventStore(sys.argv[1], key_path=Path(sys.argv[2])) as store:\n"
        "    report = verify_log(store, workers=1)\n"
        "print(json.dumps([[p.position, str(p)] for p in report.problems]))\n"
    )
    env = {**os.environ, "RA_PURE_PYTHON": "1", "PYTHONPATH": str(ROOT)}
    python = subprocess.run([sys.executable, "-c", script, str(path), str(key)], env=env,
                            check=True, capture_output=True, text=True)
    with EventStore(path, key_path=key) as store:
        report = verify_log(store, workers=1)
    found = [[p.position, str(p)] for p in report.problems]
    assert found == json.loads(python.stdout)
    positions = {p.position for p in report.problems}
    assert {11, 14, 20} <= positions
