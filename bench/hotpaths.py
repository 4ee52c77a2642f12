"""Where ra's store spends its time: ``python -m bench profile [--events N]``.

Four sections, each on fresh databases in a temp dir on the /tmp disk,
with the same ~300-byte events as ``python -m bench store``:

1. single durable appends: time per SQL statement inside `EventStore.append`
   (through a timing proxy put in place of ``store.conn``), the Python rest,
   WAL frames per commit (ra vs a raw one-row insert), and cProfile;
2. batched appends (100 a batch): the same split, cProfile, and the SQL
   floor: ra's exact statements with pre-encoded rows on ra's schema, on the
   same schema with stream/stream_version as ordinary columns, and on a
   plain table;
3. verify_log: cProfile, then the same loop built up step by step (fetch,
   + leaf hash, + Merkle frontier, + seq checks) and a what-if loop that
   keeps every check but inlines the frontier append;
4. projection rebuild: cProfile, the cost of each step of
   `RecordedEvent.from_body`, and a what-if decode loop.

The report goes to stdout and to ``bench/results/profile-<date>.txt``.
It reads ra's code, never changes it.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import io
import json
import pstats
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import timeit
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.store import BATCH, ORIGIN, RESULTS, generate

_OUT: list[str] = []


def say(text: str = "") -> None:
    print(text, flush=True)
    _OUT.append(text)


def _cprofile(fn: Callable[[], Any], limit: int = 14) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    buffer = io.StringIO()
    stats = pstats.Stats(profiler, stream=buffer)
    stats.sort_stats("tottime").print_stats(limit)
    lines = [line for line in buffer.getvalue().splitlines() if line.strip()]
    # Drop pstats' preamble, keep the table; shorten paths.
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    say("  cProfile (sorted by own time; cProfile inflates Python call costs):")
    for line in lines[start:]:
        say("    " + line.replace(str(Path.cwd()) + "/", ""))


class TimedConnection:
    """Stands in for ``EventStore.conn``: times every statement by its first words."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    @staticmethod
    def _key(sql: str) -> str:
        words = sql.split()
        if words[0] in ("BEGIN", "SELECT"):
            return " ".join(words[:2])[:40]
        if words[0] in ("INSERT", "UPDATE"):
            return " ".join(words[:3])
        return words[0]

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        t = time.perf_counter()
        try:
            return self._conn.execute(sql, *args)
        finally:
            key = self._key(sql)
            self.seconds[key] += time.perf_counter() - t
            self.calls[key] += 1

    def executemany(self, sql: str, rows: Any) -> sqlite3.Cursor:
        t = time.perf_counter()
        try:
            return self._conn.executemany(sql, rows)
        finally:
            key = self._key(sql) + " (executemany)"
            self.seconds[key] += time.perf_counter() - t
            self.calls[key] += 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


def _events(count: int, streams: int, batch: int) -> list[tuple[str, int, list[Any]]]:
    """(stream, expected version, [NewEvent]) per append call."""
    from ra.events.model import Actor, NewEvent

    calls: list[tuple[str, int, list[Any]]] = []
    pending: list[Any] = []
    for spec in generate(count, streams, batch):
        pending.append(spec)
        if len(pending) == batch:
            calls.append((pending[0].stream, pending[0].version - 1, [
                NewEvent(s.type, s.payload, actor=Actor(s.actor_kind, s.actor_id))
                for s in pending]))
            pending = []
    return calls


def _store(path: Path, key: Path | None = None) -> Any:
    from ra.events.store import EventStore

    return EventStore(path, key_path=key, origin=ORIGIN)


def _wal_frames_per_commit(path: Path, commit: Callable[[int], Any], count: int,
                           conn: sqlite3.Connection) -> float:
    """WAL frames one commit writes: autocheckpoint off, WAL growth / frame size."""
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA wal_autocheckpoint=0")
    page = int(conn.execute("PRAGMA page_size").fetchone()[0])
    for index in range(count):
        commit(index)
    size = Path(f"{path}-wal").stat().st_size
    return (size - 32) / (page + 24) / count


def _append_split(path: Path, calls: list[tuple[str, int, list[Any]]], label: str) -> None:
    store = _store(path)
    timed = TimedConnection(store.conn)
    store.conn = timed
    events = sum(len(c[2]) for c in calls)
    t0 = time.perf_counter()
    for stream, expected, batch in calls:
        store.append(stream, expected, batch)
    total = time.perf_counter() - t0
    store.conn = timed._conn
    store.close()
    counter = _store(path.with_suffix(".frames.db"))
    frames = _wal_frames_per_commit(
        counter.path, lambda i: counter.append(*calls[i]), min(200, len(calls)), counter.conn)
    counter.close()
    sql = sum(timed.seconds.values())
    say(f"  {label}: {len(calls):,} appends, {events:,} events, {events / total:,.0f} ev/s "
        f"({total / len(calls) * 1e3:.3f} ms per append); WAL frames (4 KiB pages) written "
        f"per commit: {frames:.2f}")
    say(f"    {'where':48} {'ms/append':>10} {'share':>7}")
    for key, seconds in sorted(timed.seconds.items(), key=lambda kv: -kv[1]):
        say(f"    {key:48} {seconds / len(calls) * 1e3:10.4f} {seconds / total:7.1%}")
    rest = total - sql
    say(f"    {'Python in append (encode, hash, frontier, ...)':48} "
        f"{rest / len(calls) * 1e3:10.4f} {rest / total:7.1%}")


def _raw_single(path: Path, count: int) -> None:
    bodies = [s.body for s in generate(count, 100, 1)]
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)")

    def one(body: str) -> float:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO events (body) VALUES (?)", (body,))
        t = time.perf_counter()
        conn.execute("COMMIT")
        return time.perf_counter() - t

    t0 = time.perf_counter()
    commit = sum(one(body) for body in bodies)
    total = time.perf_counter() - t0
    frames = _wal_frames_per_commit(path, lambda i: one(bodies[i % count]), 200, conn)
    conn.close()
    say(f"  raw sqlite3 one-row insert for comparison: {count / total:,.0f} ev/s, COMMIT "
        f"{commit / count * 1e3:.4f} ms of {total / count * 1e3:.4f} ms per append; "
        f"WAL frames per commit: {frames:.2f}")


def section_single(tmp: Path, count: int) -> None:
    say(f"## 1. Single durable appends ({count:,}, one event each, synchronous=FULL)")
    calls = _events(count, 100, 1)
    _append_split(tmp / "single.db", calls, "ra")
    _raw_single(tmp / "single-raw.db", count)
    store = _store(tmp / "single-prof.db")
    _cprofile(lambda: [store.append(s, e, b) for s, e, b in calls[:1000]], 10)
    store.close()
    say()


def _sql_floor(tmp: Path, count: int) -> None:
    """ra's statements with pre-encoded rows: what SQLite alone costs per batch."""
    from ra.events.store import SCHEMA, _statements

    specs = list(generate(count, 100, BATCH))
    rows = [(s.seq, s.body, hashlib.sha256(b"\x00" + s.body.encode()).digest(), s.stream,
             s.version) for s in specs]
    tree = ("CREATE TABLE IF NOT EXISTS tree_state (id INTEGER PRIMARY KEY CHECK (id = 1), "
            "size INTEGER NOT NULL, frontier BLOB NOT NULL)")
    schemas = {
        "ra's schema (generated columns, unique index)": (list(_statements(SCHEMA)), 3),
        "same, stream + stream_version as real columns": ([
            "CREATE TABLE events (seq INTEGER PRIMARY KEY, body TEXT NOT NULL, leaf BLOB NOT "
            "NULL, stream TEXT NOT NULL, stream_version INTEGER NOT NULL)",
            "CREATE UNIQUE INDEX events_stream_version ON events (stream, stream_version)",
            tree], 5),
        "plain (seq, body, leaf), no stream index": ([
            "CREATE TABLE events (seq INTEGER PRIMARY KEY, body TEXT NOT NULL, leaf BLOB NOT "
            "NULL)", tree], 3),
    }
    results: dict[str, list[float]] = {name: [] for name in schemas}
    for round_ in range(3):
        for name, (statements, width) in schemas.items():
            path = tmp / f"floor-{round_}-{len(results[name])}-{width}-{len(statements)}.db"
            conn = sqlite3.connect(str(path), isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            for statement in statements:
                conn.execute(statement)
            conn.execute("INSERT OR IGNORE INTO tree_state VALUES (1, 0, x'')")
            columns = "seq, body, leaf" + (", stream, stream_version" if width == 5 else "")
            insert = f"INSERT INTO events ({columns}) VALUES ({', '.join('?' * width)})"
            has_stream = "no stream index" not in name
            batches = [[r[:width] for r in rows[i:i + BATCH]]
                       for i in range(0, len(rows), BATCH)]
            t = time.perf_counter()
            for index, batch in enumerate(batches):
                conn.execute("BEGIN IMMEDIATE")
                if has_stream:
                    conn.execute("SELECT max(stream_version) FROM events WHERE stream = ?",
                                 (rows[index * BATCH][3],)).fetchone()
                conn.execute("SELECT size, frontier, (SELECT max(seq) FROM events) FROM "
                             "tree_state WHERE id = 1").fetchone()
                conn.executemany(insert, batch)
                conn.execute("UPDATE tree_state SET size = ?, frontier = ? WHERE id = 1",
                             ((index + 1) * BATCH, b"\x00" * 32 * 6))
                conn.execute("COMMIT")
            results[name].append(len(rows) / (time.perf_counter() - t))
            conn.close()
    say(f"  SQL floor: ra's statement sequence with pre-encoded rows, {count:,} events in "
        "batches of 100 (median of 3):")
    for name, rates in results.items():
        median = statistics.median(rates)
        say(f"    {name:48} {median:10,.0f} ev/s  {BATCH / median * 1e3:.3f} ms/batch")


def _python_steps() -> None:
    from ra.events.merkle import Frontier
    from ra.events.model import (
        Actor,
        NewEvent,
        RecordedEvent,
        encode_envelope,
        format_time,
        uuid7s,
    )

    specs = list(generate(1000, 100, BATCH))
    events = [NewEvent(s.type, s.payload, actor=Actor(s.actor_kind, s.actor_id)) for s in specs]
    ids = uuid7s(1000)
    moment = datetime.now(UTC)
    when = format_time(moment)
    bodies = [encode_envelope(e, seq=i, event_id=ids[i], stream="s:1", stream_version=i + 1,
                              occurred_at=when, origin=ORIGIN).encode()
              for i, e in enumerate(events)]
    leaves = [hashlib.sha256(b"\x00" + b).digest() for b in bodies]

    def encode() -> None:
        for i, e in enumerate(events):
            encode_envelope(e, seq=i, event_id=ids[i], stream="s:1", stream_version=i + 1,
                            occurred_at=when, origin=ORIGIN).encode("utf-8")

    def validate() -> None:
        for e in events:
            e.validate()

    def leaf() -> None:
        for b in bodies:
            hashlib.sha256(b"\x00" + b).digest()

    def frontier() -> None:
        f = Frontier()
        for item in leaves:
            f.append(item)

    def recorded() -> None:
        for i, (e, b) in enumerate(zip(events, bodies, strict=True)):
            RecordedEvent(seq=i, event_id=ids[i], stream="s:1", stream_version=i + 1,
                          type=e.type, schema_version=e.schema_version, occurred_at=moment,
                          actor=e.actor, origin=e.origin or ORIGIN, outcome=e.outcome,
                          payload=e.payload, body=b)

    def uuids() -> None:
        for _ in range(10):
            uuid7s(100)

    say("  Python steps of append, per event (timeit, best of 5):")
    for name, fn in (("encode_envelope + utf-8", encode), ("NewEvent.validate", validate),
                     ("leaf SHA-256", leaf), ("Frontier.append", frontier),
                     ("RecordedEvent(...) for the return value", recorded),
                     ("uuid7s (batch of 100)", uuids)):
        best = min(timeit.repeat(fn, number=20, repeat=5)) / 20 / 1000
        say(f"    {name:44} {best * 1e6:6.2f} us")


def section_batch(tmp: Path, count: int) -> None:
    say(f"## 2. Batched appends ({count:,} events, {BATCH} a batch)")
    calls = _events(count, 100, BATCH)
    _append_split(tmp / "batch.db", calls, "ra")
    _sql_floor(tmp, count)
    _python_steps()
    store = _store(tmp / "batch-prof.db")
    _cprofile(lambda: [store.append(s, e, b) for s, e, b in calls], 14)
    store.close()
    say()


def _build(path: Path, key: Path, count: int) -> None:
    store = _store(path, key)
    for index, (stream, expected, batch) in enumerate(_events(count, 1000, BATCH), 1):
        store.append(stream, expected, batch)
        if index * BATCH % 100_000 == 0:
            store.checkpoint()
    store.checkpoint()
    store.close()


def _verify_variants(path: Path, count: int, root: bytes) -> None:
    from ra.events.merkle import Frontier

    sha256 = hashlib.sha256
    query = "SELECT seq, CAST(body AS BLOB), leaf FROM events ORDER BY seq"

    def fetch() -> None:
        conn = sqlite3.connect(str(path))
        cursor = conn.execute(query)
        while rows := cursor.fetchmany(20_000):
            for _seq, _body, _leaf in rows:
                pass
        conn.close()

    def hashed() -> None:
        conn = sqlite3.connect(str(path))
        cursor = conn.execute(query)
        while rows := cursor.fetchmany(20_000):
            for _seq, body, leaf in rows:
                if sha256(b"\x00" + body).digest() != leaf:
                    raise AssertionError
        conn.close()

    def frontier() -> None:
        conn = sqlite3.connect(str(path))
        f = Frontier()
        append = f.append
        cursor = conn.execute(query)
        while rows := cursor.fetchmany(20_000):
            for _seq, body, leaf in rows:
                digest = sha256(b"\x00" + body).digest()
                if digest != leaf:
                    raise AssertionError
                append(digest)
        conn.close()
        assert f.root() == root

    def seqcheck() -> None:
        conn = sqlite3.connect(str(path))
        f = Frontier()
        append = f.append
        expected = 0
        cursor = conn.execute(query)
        while rows := cursor.fetchmany(20_000):
            for seq, body, leaf in rows:
                if seq != expected:
                    raise AssertionError
                digest = sha256(b"\x00" + body).digest()
                if digest != leaf:
                    raise AssertionError
                at = body.rfind(b',"seq":') + 7
                if not body.startswith(b"%d," % seq, at) and not body.startswith(
                        b"%d}" % seq, at):
                    raise AssertionError
                append(digest)
                expected += 1
        conn.close()
        assert f.root() == root

    def whatif() -> None:
        """Every check of `seqcheck` (and verify_log's per-event checkpoint-size
        lookup), with the frontier append inlined: no method call, no length
        check per leaf (the digest is 32 bytes by construction), bound methods
        for the stack. An aligned-block variant (compare whole fetched blocks
        in C, hash the tree level by level) measured no faster here."""
        wanted = {100_000 * k for k in range(1, count // 100_000 + 1)} | {count}
        conn = sqlite3.connect(str(path))
        stack: list[bytes] = []
        pop, push = stack.pop, stack.append
        size = 0
        key = b',"seq":'
        cursor = conn.execute(query)
        while rows := cursor.fetchmany(20_000):
            for seq, body, leaf in rows:
                if seq != size:
                    raise AssertionError
                node = sha256(b"\x00" + body).digest()
                if node != leaf:
                    raise AssertionError
                at = body.rfind(key) + 7
                if not body.startswith(b"%d," % seq, at) and not body.startswith(
                        b"%d}" % seq, at):
                    raise AssertionError
                bits = size
                while bits & 1:
                    node = sha256(b"\x01" + pop() + node).digest()
                    bits >>= 1
                push(node)
                size += 1
                if size in wanted:
                    pass  # verify_log takes frontier.root() here
        conn.close()
        acc = stack[-1]
        for left in reversed(stack[:-1]):
            acc = sha256(b"\x01" + left + acc).digest()
        assert acc == root

    say(f"  verify_log's loop built up step by step over the {count:,}-event log "
        "(median of 3):")
    previous = 0.0
    for name, fn in (("fetch (seq, body, leaf) rows", fetch), ("+ leaf SHA-256 and compare",
                     hashed), ("+ Frontier.append", frontier),
                     ("+ seq gap check and seq-in-body check", seqcheck),
                     ("what-if: same checks, frontier append inlined", whatif)):
        seconds = statistics.median(timeit.repeat(fn, number=1, repeat=3))
        extra = "" if name.startswith("what-if") or not previous else \
            f"  (+{(seconds - previous) / count * 1e6:.2f} us/event)"
        say(f"    {name:58} {count / seconds:10,.0f} ev/s  "
            f"{seconds / count * 1e6:5.2f} us/event{extra}")
        if not name.startswith("what-if"):
            previous = seconds


def section_verify(tmp: Path, count: int) -> tuple[Path, Path]:
    from ra.events.verify import verify_log

    say(f"## 3. verify_log over {count:,} events")
    path, key = tmp / "big.db", tmp / "big.key"
    _build(path, key, count)
    store = _store(path, key)
    rates = []
    report = None
    for _ in range(3):
        t = time.perf_counter()
        report = verify_log(store)
        rates.append(count / (time.perf_counter() - t))
    assert report is not None and report.ok, report
    say(f"  verify_log: {statistics.median(rates):,.0f} ev/s (median of 3), "
        f"{report.checkpoints_checked} checkpoints")
    try:
        from ra.events.receipts import check_receipts
    except ImportError:
        pass
    else:
        seconds = statistics.median(timeit.repeat(lambda: check_receipts(store), number=1,
                                                  repeat=3))
        plan = store.conn.execute("EXPLAIN QUERY PLAN SELECT seq, body FROM events WHERE "
                                  "type = ? ORDER BY seq", ("session.receipt",)).fetchall()
        say(f"  of which check_receipts (a second pass, WHERE type = ?): {seconds:.3f} s, "
            f"{seconds / count * 1e6:.2f} us/event; plan: {plan[-1][-1]}")
    _verify_variants(path, count, report.root)
    _cprofile(lambda: verify_log(store), 10)
    store.close()
    say()
    return path, key


def section_rebuild(path: Path, key: Path, count: int) -> None:
    from ra.events.model import Actor, RecordedEvent, parse_time

    say(f"## 4. Projection rebuild over {count:,} events")
    rebuild: Callable[..., int] | None
    try:
        from ra.events.projections import rebuild
    except ImportError:
        rebuild = None
    from bench.store import _StreamFold

    store = _store(path, key)

    def run() -> None:
        fold = _StreamFold()
        if rebuild is not None:
            rebuild(store, [fold])
        else:
            for event in store.iter_events():
                fold.apply(event)

    seconds = statistics.median(timeit.repeat(run, number=1, repeat=3))
    impl = "ra.events.projections.rebuild" if rebuild is not None else "fold over iter_events()"
    say(f"  {impl}: {seconds:.2f} s, {count / seconds:,.0f} ev/s, "
        f"{seconds / count * 1e6:.2f} us/event; 1,000,000 events would take "
        f"{seconds * 1_000_000 / count:.1f} s")
    bodies = [b for (b,) in store.conn.execute("SELECT body FROM events LIMIT 2000")]
    raw = [b.encode() for b in bodies]
    datas = [json.loads(b) for b in raw]

    def read() -> None:
        cursor = store.conn.execute("SELECT body FROM events ORDER BY seq LIMIT 50000")
        while cursor.fetchmany(2000):
            pass

    steps: list[tuple[str, Callable[[], Any], int]] = [
        ("SELECT body (read rows)", read, 50_000),
        ("str -> utf-8 bytes", lambda: [b.encode("utf-8") for b in bodies], 2000),
        ("json.loads", lambda: [json.loads(b) for b in raw], 2000),
        ("parse_time(occurred_at)", lambda: [parse_time(d["occurred_at"]) for d in datas],
         2000),
        ("Actor.from_json", lambda: [Actor.from_json(d["actor"]) for d in datas], 2000),
        ("RecordedEvent.from_body (all of it)", lambda: [RecordedEvent.from_body(b)
                                                         for b in raw], 2000),
    ]
    decoder = json.JSONDecoder()
    scan = decoder.scan_once  # type: ignore[attr-defined]
    moment = datetime.now(UTC)
    actor = Actor("helper", "h42")
    steps += [
        ("  what-if: json.loads(str), no bytes round trip",
         lambda: [json.loads(b) for b in bodies], 2000),
        ("  what-if: JSONDecoder().scan_once(str, 0)", lambda: [scan(b, 0) for b in bodies],
         2000),
        ("RecordedEvent(...) (frozen dataclass, keywords)", lambda: [RecordedEvent(
            seq=1, event_id="e", stream="s:1", stream_version=1, type="a.b", schema_version=1,
            occurred_at=moment, actor=actor, origin="o", outcome="success", payload={},
            body=b"") for _ in range(2000)], 2000),
        ("  what-if: plain __slots__ class, positional", lambda: [_Event(
            1, "e", "s:1", 1, "a.b", 1, moment, actor, "o", "success", {}, b"")
            for _ in range(2000)], 2000),
    ]
    say("  per event (timeit, best of 5):")
    for name, fn, n in steps:
        best = min(timeit.repeat(fn, number=3, repeat=5)) / 3 / n
        say(f"    {name:50} {best * 1e6:6.2f} us")

    def whatif() -> None:
        fold = _StreamFold()
        apply = fold.apply
        cursor = store.conn.execute("SELECT body FROM events ORDER BY seq")
        while rows := cursor.fetchmany(2000):
            for (body,) in rows:
                data = scan(body, 0)[0]
                who = data["actor"]
                apply(_Event(data["seq"], data["event_id"], data["stream"],
                             data["stream_version"], data["type"], data["schema_version"],
                             parse_time(data["occurred_at"]), Actor(who["kind"], who["id"]),
                             data["origin"], data["outcome"], data["payload"], body))

    seconds = statistics.median(timeit.repeat(whatif, number=1, repeat=3))
    say(f"  what-if rebuild (scan_once on the str body, plain slots event, same Actor and "
        f"parse_time, same fold): {seconds:.2f} s, {count / seconds:,.0f} ev/s; "
        f"1,000,000 events would take {seconds * 1_000_000 / count:.1f} s")
    _cprofile(run, 12)
    store.close()
    say()


class _Event:
    """What a RecordedEvent could be: a plain class with slots (what-if only)."""

    __slots__ = ("seq", "event_id", "stream", "stream_version", "type", "schema_version",
                 "occurred_at", "actor", "origin", "outcome", "payload", "body")

    def __init__(self, seq: int, event_id: str, stream: str, stream_version: int, type_: str,
                 schema_version: int, occurred_at: datetime, actor: Any, origin: str,
                 outcome: str, payload: Any, body: Any) -> None:
        self.seq = seq
        self.event_id = event_id
        self.stream = stream
        self.stream_version = stream_version
        self.type = type_
        self.schema_version = schema_version
        self.occurred_at = occurred_at
        self.actor = actor
        self.origin = origin
        self.outcome = outcome
        self.payload = payload
        self.body = body


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench profile", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300_000,
                        help="events in the verify/rebuild log (default 300,000)")
    parser.add_argument("--single", type=int, default=3000, help="single appends (3000)")
    parser.add_argument("--batch", type=int, default=50_000, help="batched events (50,000)")
    parser.add_argument("--tmp-dir", type=Path, default=None)
    args = parser.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="ra-profile-", dir=args.tmp_dir))
    say(f"# ra store profile, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, Python "
        f"{sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}")
    say()
    try:
        section_single(tmp, args.single)
        section_batch(tmp, args.batch)
        path, key = section_verify(tmp, args.events)
        section_rebuild(path, key, args.events)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    out = RESULTS / f"profile-{datetime.now():%Y-%m-%d}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(_OUT) + "\n")
    print(f"written to {out}", file=sys.stderr)
    return 0
