"""Where ra's store spends its time: ``python -m bench profile [--events N]``.

Four sections, each on fresh databases in a temp dir on the /tmp disk,
with the same ~300-byte events as ``python -m bench store``:

1. single durable appends: time per SQL statement inside `EventStore.append`
   (through a timing proxy put in place of ``store.conn``; ra's statements
   are named by their constants in `ra.events.store`), the Python rest, WAL
   frames per commit (ra vs a raw one-row insert); ra and raw interleaved in
   one process, statement by statement; the ladder from raw's insert to
   ra's append (ra's schema, + the leaf hash and frontier, + the encoding,
   + `append` itself), interleaved; append's Python steps timed right
   after a real fsync (and after a busy-wait, and run twice); raw commits
   that grow the WAL file against those that overwrite it; cProfile;
2. batched appends (100 a batch): the same split, cProfile, the SQL floor
   and the Python steps. The floor runs ra's exact statements
   (``_APPEND_STATE``, the multi-row INSERT of `insert_events`, the
   ``tree_state`` rewrite each `TREE_STATE_EVERY` events) with pre-encoded
   rows on ra's schema as `EventStore` makes it, on the same schema with
   the stream index (``events_spans``) dropped, and on a plain
   (seq, body) table, both with one multi-row INSERT and with executemany
   (what the bench's raw-sqlite3 limit does); the steps are
   `NewEvent.validate`, `encode_batch`, `Frontier.extend`, the records
   `Appended` builds when read, and the UUIDv7 run;
3. verify_log: its rate (as it runs, and in one process), check_receipts,
   cProfile, and its scan loop built up step by step (fetch verify's rows,
   + leaf hash against the span's, + each block's tree built a level at a time,
   + body-tail check) up to
   verify's own `_scan_range` (which adds the span checks and the block
   bookkeeping);
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
import os
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

from bench.store import BATCH, ORIGIN, RESULTS, _raw_connect, generate

_OUT: list[str] = []


def say(text: str = "") -> None:
    print(text, flush=True)
    _OUT.append(text)


def _cprofile(fn: Callable[[], Any], limit: int = 14, what: str = "") -> None:
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
    say(f"  cProfile{what} (sorted by own time; cProfile inflates Python call costs):")
    for line in lines[start:]:
        say("    " + line.replace(str(Path.cwd()) + "/", ""))


class TimedConnection:
    """Stands in for ``EventStore.conn``: times every statement, ra's by the
    name of its constant, the others by their first words."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        from ra.events.store import _APPEND_STATE

        self._conn = conn
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self._names = {_APPEND_STATE: "_APPEND_STATE (stream version, last seq)"}

    def _key(self, sql: str) -> str:
        if sql in self._names:
            return self._names[sql]
        if sql.startswith("INSERT INTO events (seq, body, span_stream"):
            return "insert_events (the events and their span)"
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
    say(f"    {'Python in append (validate, encode, frontier)':48} "
        f"{rest / len(calls) * 1e3:10.4f} {rest / total:7.1%}")


def _raw_single(path: Path, count: int) -> None:
    bodies = [s.body for s in generate(count, 100, 1)]
    conn = _raw_connect(path)

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


def _raw_append(conn: Any, body: str) -> None:
    """The raw limit's single append: one INSERT in its own transaction
    (`conn` is a connection or a `TimedConnection`)."""
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO events (body) VALUES (?)", (body,))
    conn.execute("COMMIT")


def _interleaved_single(tmp: Path, blocks: int, per_block: int) -> None:
    """ra and raw sqlite3 single appends in one process, in alternating blocks
    (the order flips every block), so both see the same disk; every statement
    timed, the rest of each append is its Python."""
    count = blocks * per_block
    calls = _events(count, 100, 1)
    bodies = [s.body for s in generate(count, 100, 1)]
    store = _store(tmp / "paired-ra.db")
    ra_sql = TimedConnection(store.conn)
    store.conn = ra_sql
    raw_sql = TimedConnection(_raw_connect(tmp / "paired-raw.db"))
    totals = {"ra": 0.0, "raw": 0.0}
    ratios: list[float] = []
    perf = time.perf_counter
    for block in range(blocks):
        part = range(block * per_block, (block + 1) * per_block)
        took: dict[str, float] = {}
        for system in (("ra", "raw") if block % 2 == 0 else ("raw", "ra")):
            t = perf()
            if system == "ra":
                for i in part:
                    store.append(*calls[i])
            else:
                for i in part:
                    _raw_append(raw_sql, bodies[i])
            took[system] = perf() - t
            totals[system] += took[system]
        ratios.append(took["raw"] / took["ra"])
    store.conn = ra_sql._conn
    store.close()
    raw_sql._conn.close()
    say(f"  ra and raw sqlite3 interleaved in one process ({blocks} blocks of {per_block} "
        f"appends each, every statement timed): ra/raw rate {totals['raw'] / totals['ra']:.2f} "
        f"overall, {statistics.median(ratios):.2f} median of blocks "
        f"({min(ratios):.2f}-{max(ratios):.2f})")
    say(f"    {'us per append':30} {'ra':>8} {'raw':>8}")
    for label, ra_key, raw_key in (("BEGIN IMMEDIATE", "BEGIN IMMEDIATE", "BEGIN IMMEDIATE"),
                                   ("the INSERT", "insert_events (the events and their span)",
                                    "INSERT INTO events"),
                                   ("COMMIT", "COMMIT", "COMMIT")):
        say(f"    {label:30} {ra_sql.seconds[ra_key] / count * 1e6:8.1f} "
            f"{raw_sql.seconds[raw_key] / count * 1e6:8.1f}")
    rest = {name: (totals[name] - sum(timed.seconds.values())) / count * 1e6
            for name, timed in (("ra", ra_sql), ("raw", raw_sql))}
    say(f"    {'the rest (Python)':30} {rest['ra']:8.1f} {rest['raw']:8.1f}")
    say(f"    {'the whole append':30} {totals['ra'] / count * 1e6:8.1f} "
        f"{totals['raw'] / count * 1e6:8.1f}")


def _encode_now(events: list[Any], first_seq: int, first_version: int,
                stream: str) -> tuple[Any, list[bytes], Any]:
    """What `EventStore.append` does to encode at the clock's now."""
    from ra.events.encoding import encode_batch
    from ra.events.model import stamp_now

    occurred_at, now_ms = stamp_now()
    return encode_batch(events, first_seq=first_seq, first_version=first_version,
                        stream=stream, occurred_at=occurred_at, origin=ORIGIN, now_ms=now_ms)


def _cold_steps(tmp: Path, count: int) -> None:
    """append's Python steps, each timed right after a real fsync (a raw
    commit), as the benchmark's single appends meet them; then the same after
    a 30 us busy-wait, and right after running the steps once already."""
    from ra.events.merkle import Frontier
    from ra.events.model import validate_stream

    calls = _events(count, 100, 1)
    conn = _raw_connect(tmp / "cold-raw.db")
    # Every step extends a copy of one frontier of 1,001 leaves: one merge,
    # the average of an append, the same in every mode.
    base = Frontier()
    base.extend(hashlib.sha256(b"%d" % i).digest() for i in range(1001))
    perf = time.perf_counter_ns
    steps: dict[str, list[int]] = defaultdict(list)

    def run(i: int, record: str) -> None:
        stream, expected, events = calls[i]
        t0 = perf()
        validate_stream(stream)  # as `append` does
        for event in events:
            event.validate()
        t1 = perf()
        _rows, leaves, _records = _encode_now(events, i, expected + 1, stream)
        encoded = perf()
        frontier = base.copy()  # not timed
        t3 = perf()
        frontier.extend(leaves)
        t4 = perf()
        if record:
            for name, took in (("validate", t1 - t0), ("encode", encoded - t1),
                               ("Frontier.extend", t4 - t3),
                               ("all three", encoded - t0 + t4 - t3)):
                steps[f"{record}|{name}"].append(took)

    modes = ("after fsync", "after 30 us busy", "second run")
    for i in range(count):
        _raw_append(conn, "x" * 300)
        mode = modes[i % 3]
        if mode == "after 30 us busy":
            end = perf() + 30_000
            while perf() < end:
                pass
        elif mode == "second run":
            run(i, "")
        run(i, mode)
    conn.close()
    say(f"  append's Python steps for one event, right after a real fsync (medians of "
        f"{count // 3:,} each, us):")
    say(f"    {'step':26}" + "".join(f" {m:>17}" for m in modes))
    for name in ("validate", "encode", "Frontier.extend", "all three"):
        say(f"    {name:26}" + "".join(
            f" {statistics.median(steps[f'{m}|{name}']) / 1000:17.2f}" for m in modes))


def _wal_growth(tmp: Path, count: int) -> None:
    """Raw one-row commits that grow the WAL file against those that overwrite
    it (after the first automatic checkpoint the WAL starts again from its
    beginning): a fresh log's first commits are the dear ones."""
    path = tmp / "growth-raw.db"
    conn = _raw_connect(path)
    wal = Path(f"{path}-wal")
    perf = time.perf_counter
    grow: list[float] = []
    overwrite: list[float] = []
    size = 0
    for _ in range(count):
        t = perf()
        _raw_append(conn, "x" * 300)
        took = perf() - t
        now = wal.stat().st_size
        (grow if now > size else overwrite).append(took)
        size = now
    conn.close()
    say(f"  raw one-row commits that grow the WAL file: {len(grow):,}, median "
        f"{statistics.median(grow) * 1e6:.1f} us; that overwrite it: {len(overwrite):,}, "
        f"median {statistics.median(overwrite) * 1e6:.1f} us")


def _single_ladder(tmp: Path, blocks: int, per_block: int) -> None:
    """Single appends from raw's one-row insert up to ra's `append`, one step
    at a time, each on its own database file, interleaved in blocks (the
    order rotates every block) so that all of them see the same disk:

    raw      the bench's limit: (seq, body) table, one INSERT of the body;
    schema   ra's schema (``SCHEMA``: span columns, stream index, triggers)
             and ra's INSERT, rows encoded and hashed before the clock;
    +hash    the same, the leaf SHA-256 and `Frontier.extend` in the clock;
    +encode  `_encode_now` in the clock too (the clock, ids, text,
             UTF-8, leaf hash), and the frontier: ra's work without `append`;
    ra       `EventStore.append` (validation, the known state, the rest).
    """
    from ra.events.merkle import Frontier
    from ra.events.store import SCHEMA, insert_events

    count = blocks * per_block
    calls = _events(count, 100, 1)
    encoded = []
    for i, (stream, expected, events) in enumerate(calls):
        rows, _leaves, _records = _encode_now(events, i, expected + 1, stream)
        encoded.append(rows)
    conns = {}
    for name in ("raw", "schema", "+hash", "+encode"):
        conns[name] = conn = _raw_connect(tmp / f"ladder-{name[-4:]}.db")
        if name != "raw":
            conn.execute("DROP TABLE events")
            conn.executescript(SCHEMA)
    store = _store(tmp / "ladder-ra.db")
    frontiers = {"+hash": Frontier(), "+encode": Frontier()}
    sha256 = hashlib.sha256
    insert = insert_events(1)
    perf = time.perf_counter

    def run(name: str, part: range) -> None:
        if name == "ra":
            for i in part:
                store.append(*calls[i])
            return
        conn = conns[name]
        if name == "raw":
            for i in part:
                _raw_append(conn, encoded[i][1])
        elif name == "schema":
            for i in part:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(insert, encoded[i])
                conn.execute("COMMIT")
        elif name == "+hash":
            frontier = frontiers[name]
            for i in part:
                seq, text, stream, version, _leaf = encoded[i]
                conn.execute("BEGIN IMMEDIATE")
                leaf = sha256(b"\x00" + text.encode("utf-8")).digest()
                conn.execute(insert, (seq, text, stream, version, leaf))
                frontier.extend((leaf,))
                conn.execute("COMMIT")
        else:  # +encode
            frontier = frontiers[name]
            for i in part:
                stream, expected, events = calls[i]
                conn.execute("BEGIN IMMEDIATE")
                rows, leaves, _records = _encode_now(events, i, expected + 1, stream)
                conn.execute(insert, rows)
                frontier.extend(leaves)
                conn.execute("COMMIT")

    names = ("raw", "schema", "+hash", "+encode", "ra")
    took: dict[str, list[float]] = {name: [] for name in names}
    for block in range(blocks):
        part = range(block * per_block, (block + 1) * per_block)
        for name in names[block % len(names):] + names[:block % len(names)]:
            t = perf()
            run(name, part)
            took[name].append((perf() - t) / per_block)
    for conn in conns.values():
        conn.close()
    store.close()
    say(f"  single appends from raw's insert up to ra's append, a step at a time, "
        f"interleaved ({blocks} blocks of {per_block}, order rotated; medians of blocks):")
    say(f"    {'step':10} {'us/append':>10} {'vs raw':>7} {'step adds':>10}")
    previous = None
    for name in names:
        median = statistics.median(took[name])
        ratio = statistics.median(r / t for r, t in zip(took["raw"], took[name], strict=True))
        step = "" if previous is None else f"{(median - previous) * 1e6:+10.1f}"
        say(f"    {name:10} {median * 1e6:10.1f} {ratio:7.2f} {step:>10}")
        previous = median


def section_single(tmp: Path, count: int) -> None:
    say(f"## 1. Single durable appends ({count:,}, one event each, synchronous=FULL)")
    calls = _events(count, 100, 1)
    _append_split(tmp / "single.db", calls, "ra")
    _raw_single(tmp / "single-raw.db", count)
    _interleaved_single(tmp, 20, 250)
    _single_ladder(tmp, 20, 250)
    _cold_steps(tmp, count)
    _wal_growth(tmp, 5000)
    store = _store(tmp / "single-prof.db")
    _cprofile(lambda: [store.append(s, e, b) for s, e, b in calls[:1000]], 10)
    store.close()
    say()


def _sql_floor(tmp: Path, count: int) -> None:
    """ra's statements with pre-encoded rows: what SQLite alone costs per batch."""
    from ra.events.merkle import Frontier
    from ra.events.store import _APPEND_STATE, TREE_STATE_EVERY, insert_events

    specs = list(generate(count, 100, BATCH))
    batches = [specs[i:i + BATCH] for i in range(0, len(specs), BATCH)]
    # Built outside the clock: each append's INSERT parameters as encode_batch
    # makes them (the first event with its span: stream, last version, leaf
    # hashes; then seq and body), and the frontier ra writes to tree_state when
    # the size crosses a multiple of TREE_STATE_EVERY (its hashes' values do
    # not matter to SQLite, only their number).
    params_of: list[list[Any]] = []
    for batch in batches:
        leaves = b"".join(hashlib.sha256(b"\x00" + s.body.encode()).digest() for s in batch)
        params: list[Any] = [batch[0].seq, batch[0].body, batch[0].stream, batch[-1].version,
                             leaves]
        for spec in batch[1:]:
            params += (spec.seq, spec.body)
        params_of.append(params)
    saves: dict[int, Frontier] = {}
    for index, batch in enumerate(batches):
        size, end = batch[0].seq, batch[-1].seq + 1
        if end // TREE_STATE_EVERY != size // TREE_STATE_EVERY:
            saves[index] = Frontier.from_bytes(end, b"\x00" * 32 * end.bit_count())
    plain = [[(spec.body,) for spec in batch] for batch in batches]
    flat = [[spec.body for spec in batch] for batch in batches]

    def ra_statements(path: Path, stream_index: bool) -> float:
        store = _store(path)  # ra's schema, made by EventStore itself
        conn = store.conn
        state_params: list[tuple[str, ...]]
        if stream_index:
            state, state_params = _APPEND_STATE, [(batch[0].stream,) for batch in batches]
        else:
            # Without the index the stream half of _APPEND_STATE scans the table.
            for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index' "
                                        "AND tbl_name = 'events' AND sql IS NOT NULL").fetchall():
                conn.execute(f"DROP INDEX {name}")
            state = "SELECT NULL, (SELECT max(seq) FROM events)"
            state_params = [()] * len(batches)
        execute = conn.execute
        insert = [insert_events(len(batch)) for batch in batches]
        t = time.perf_counter()
        for index in range(len(batches)):
            execute("BEGIN IMMEDIATE")
            execute(state, state_params[index]).fetchone()
            execute(insert[index], params_of[index])
            if index in saves:
                store._save_tree_state(saves[index])
            execute("COMMIT")
        seconds = time.perf_counter() - t
        store.close()
        return seconds

    def plain_table(path: Path, multi_row: bool) -> float:
        conn = sqlite3.connect(str(path), isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)")
        execute, executemany = conn.execute, conn.executemany
        many = "INSERT INTO events (body) VALUES " + ", ".join(["(?)"] * BATCH)
        t = time.perf_counter()
        for index, batch in enumerate(plain):
            execute("BEGIN IMMEDIATE")
            if multi_row:
                execute(many, flat[index])
            else:
                executemany("INSERT INTO events (body) VALUES (?)", batch)
            execute("COMMIT")
        seconds = time.perf_counter() - t
        conn.close()
        return seconds

    variants: dict[str, Callable[[Path], float]] = {
        "ra's schema and statements (span index)": lambda p: ra_statements(p, True),
        "same, stream index dropped (no stream lookup)": lambda p: ra_statements(p, False),
        "plain (seq, body), one multi-row INSERT (bench's sqlite)":
            lambda p: plain_table(p, True),
        "plain (seq, body), executemany": lambda p: plain_table(p, False),
    }
    results: dict[str, list[float]] = {name: [] for name in variants}
    for round_ in range(3):
        for number, (name, run) in enumerate(variants.items()):
            results[name].append(len(specs) / run(tmp / f"floor-{round_}-{number}.db"))
    say(f"  SQL floor: ra's statement sequence with pre-encoded rows, {count:,} events in "
        "batches of 100 (median of 3):")
    for name, rates in results.items():
        median = statistics.median(rates)
        say(f"    {name:48} {median:10,.0f} ev/s  {BATCH / median * 1e3:.3f} ms/batch")


def _python_steps() -> None:
    from ra.events.encoding import Appended, encode_batch, encode_envelope
    from ra.events.ids import uuid7_run, uuid7s
    from ra.events.merkle import Frontier
    from ra.events.model import Actor, NewEvent, format_time, validate_stream

    specs = list(generate(1000, 100, BATCH))
    events = [NewEvent(s.type, s.payload, actor=Actor(s.actor_kind, s.actor_id)) for s in specs]
    batches = [(specs[i].stream, events[i:i + BATCH]) for i in range(0, len(events), BATCH)]
    moment = datetime.now(UTC)
    when = format_time(moment)
    encoded = [encode_batch(batch, first_seq=i * BATCH, first_version=1, stream=stream,
                            occurred_at=when, origin=ORIGIN)
               for i, (stream, batch) in enumerate(batches)]
    runs = [uuid7_run(BATCH) for _ in batches]

    def validate() -> None:
        for stream, batch in batches:
            validate_stream(stream)
            for e in batch:
                e.validate()

    def encode() -> None:
        for i, (stream, batch) in enumerate(batches):
            encode_batch(batch, first_seq=i * BATCH, first_version=1, stream=stream,
                         occurred_at=when, origin=ORIGIN)

    def uuid_run() -> None:
        for _ in batches:
            uuid7_run(BATCH)

    def frontier() -> None:
        f = Frontier()
        for _rows, leaves, _appended in encoded:
            f.extend(leaves)

    def records() -> None:
        for (rows, _leaves, _appended), (stream, batch), (prefix, low) in zip(
                encoded, batches, runs, strict=True):
            Appended(rows, batch, prefix, low, when, ORIGIN, stream, 1)[0]  # builds them all

    def uuids() -> None:
        for _ in batches:
            uuid7s(BATCH)

    def reference() -> None:
        sha256 = hashlib.sha256
        for first in range(0, len(events), BATCH):
            ids = uuid7s(BATCH)
            for i, e in enumerate(events[first:first + BATCH]):
                body = encode_envelope(e, seq=first + i, event_id=ids[i], stream="s:1",
                                       stream_version=first + i + 1, occurred_at=when,
                                       origin=ORIGIN).encode("utf-8")
                sha256(b"\x00" + body).digest()

    say("  Python steps of append, per event, batches of 100 (timeit, best of 5):")
    on_path = 0.0
    for name, fn, in_append in (
            ("NewEvent.validate (+ validate_stream per batch)", validate, True),
            ("encode_batch (ids, text, utf-8, leaf SHA-256)", encode, True),
            ("  of which the UUIDv7 run (uuid7_run)", uuid_run, False),
            ("Frontier.extend (one call per batch)", frontier, True),
            ("records from Appended, when first read", records, False),
            ("  not on the path: uuid7s(100), ids as a list", uuids, False),
            ("  reference: uuid7s + encode_envelope + SHA-256", reference, False)):
        best = min(timeit.repeat(fn, number=20, repeat=5)) / 20 / len(events)
        on_path += best if in_append else 0.0
        say(f"    {name:50} {best * 1e6:6.2f} us")
    say(f"    {'validate + encode_batch + extend':50} {on_path * 1e6:6.2f} us "
        f"({on_path * BATCH * 1e3:.4f} ms per batch; append builds the records only when "
        "its caller reads them, and this profile's appends do not)")


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
    from ra.events.verify import _SELECT, BLOCK, _roots, _Scan, _scan_range, _take_block

    sha256 = hashlib.sha256
    # verify's own statement and bounds (its single-process path: one range, 0..count-1),
    # read a block at a time as verify reads it.
    query = f"{_SELECT} WHERE seq >= ? AND seq < ? ORDER BY seq"
    bounds = (0, count)
    tail = b',"seq":%d,"stream":"%s","stream_version":%d,"type":"'
    seq_key = b',"seq":'

    def fetch() -> None:
        conn = sqlite3.connect(str(path))
        cursor = conn.execute(query, bounds)
        while rows := cursor.fetchmany(BLOCK):
            for _seq, _body, _stream, _last, _leaves in rows:
                pass
        conn.close()

    def hashed() -> None:
        conn = sqlite3.connect(str(path))
        cursor = conn.execute(query, bounds)
        leaves, at = b"", 0
        while rows := cursor.fetchmany(BLOCK):
            digests = [sha256(b"\x00" + row[1]).digest() for row in rows]
            for (_seq, _body, _stream, last, span_leaves), digest in zip(
                    rows, digests, strict=True):
                if last is not None:
                    leaves, at = span_leaves, 0
                if not leaves.startswith(digest, at):
                    raise AssertionError
                at += 32
        conn.close()

    def merkle(check_tail: bool = False) -> None:
        conn = sqlite3.connect(str(path))
        cursor = conn.execute(query, bounds)
        scan = _Scan()
        leaves, at, stream, version, block = b"", 0, b"", 0, 0
        while rows := cursor.fetchmany(BLOCK):
            digests = [sha256(b"\x00" + row[1]).digest() for row in rows]
            for (seq, body, span_stream, last, span_leaves), digest in zip(
                    rows, digests, strict=True):
                if last is not None:
                    leaves, at, stream = span_leaves, 0, span_stream
                    version = last - len(leaves) // 32 + 1
                if not leaves.startswith(digest, at):
                    raise AssertionError
                at += 32
                if check_tail and not body.startswith(tail % (seq, stream, version),
                                                      body.rfind(seq_key)):
                    raise AssertionError
                version += 1
            _take_block(scan, block, digests, {count})  # the block's tree, a level at a time
            block += 1
        conn.close()
        assert _roots(scan, {count})[count] == root

    def scan() -> None:
        conn = sqlite3.connect(str(path), isolation_level=None)
        conn.execute("BEGIN")
        result = _scan_range(conn, 0, count, {count}, None, count)
        conn.close()
        assert not result.problems and not result.gapped, result.problems[:3]

    say(f"  verify_log's scan loop built up step by step over the {count:,}-event log, one "
        f"process, {BLOCK:,} rows a fetch (median of 3):")
    previous = 0.0
    for name, fn in (("fetch verify's rows (body, and the span on a first event)", fetch),
                     ("+ leaf SHA-256, compared with the span's", hashed),
                     ("+ each block's tree, a level at a time", merkle),
                     ("+ body tail check (seq, and stream, version from the span)",
                      lambda: merkle(check_tail=True)),
                     ("+ spans, receipt type, block checks: verify's _scan_range", scan)):
        seconds = statistics.median(timeit.repeat(fn, number=1, repeat=3))
        extra = f"  ({(seconds - previous) / count * 1e6:+.2f} us/event)" if previous else ""
        say(f"    {name:58} {count / seconds:10,.0f} ev/s  "
            f"{seconds / count * 1e6:5.2f} us/event{extra}")
        previous = seconds


def section_verify(tmp: Path, count: int) -> tuple[Path, Path]:
    from ra.events.receipts import RECEIPT_TYPE, check_receipts
    from ra.events.verify import BLOCK, PARALLEL_MIN, verify_log

    say(f"## 3. verify_log over {count:,} events")
    path, key = tmp / "big.db", tmp / "big.key"
    _build(path, key, count)
    store = _store(path, key)
    # How many processes verify_log chooses by itself (see verify._scan_blocks).
    workers = min(os.cpu_count() or 1, 4) if count >= PARALLEL_MIN else 1
    workers = max(1, min(workers, (count + BLOCK - 1) // BLOCK))
    rates: dict[int, list[float]] = {1: []} if workers == 1 else {workers: [], 1: []}
    report = None
    for _ in range(3):
        for chosen in rates:
            t = time.perf_counter()
            report = verify_log(store, workers=chosen)
            rates[chosen].append(count / (time.perf_counter() - t))
    assert report is not None and report.ok, report
    measured = ", ".join(f"{statistics.median(r):,.0f} ev/s with {n} process"
                         f"{'es' if n > 1 else ''}" for n, r in rates.items())
    say(f"  verify_log: {measured} (median of 3; it picks {workers} for this size), "
        f"{report.checkpoints_checked} checkpoints")
    # The scan collects the receipts' seqs as it goes (no second pass); the
    # slow path (seq gaps) finds them with this query.
    receipts = [seq for (seq,) in store.conn.execute(
        "SELECT seq FROM events WHERE json_extract(body, '$.type') = ?", (RECEIPT_TYPE,))]
    seconds = statistics.median(timeit.repeat(lambda: check_receipts(store, receipts),
                                              number=1, repeat=3))
    say(f"  of which check_receipts(store, seqs) for the {len(receipts)} receipts in the log "
        f"(the bench workload writes none): {seconds * 1e3:.3f} ms")
    _verify_variants(path, count, report.root)
    _cprofile(lambda: verify_log(store, workers=1), 10, " of verify_log(workers=1)")
    store.close()
    say()
    return path, key


def section_rebuild(path: Path, key: Path, count: int) -> None:
    from ra.events.model import Actor, RecordedEvent

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
    # The steps of RecordedEvent.from_body on the str bodies iter_events reads.
    bodies = [b for (b,) in store.conn.execute("SELECT body FROM events LIMIT 2000")]
    n, reads = len(bodies), min(count, 50_000)
    decode = json.JSONDecoder().decode
    datas = [decode(b) for b in bodies]
    fromiso = datetime.fromisoformat

    def read() -> None:
        cursor = store.conn.execute("SELECT body FROM events ORDER BY seq LIMIT ?", (reads,))
        while cursor.fetchmany(2000):
            pass

    steps: list[tuple[str, Callable[[], Any], int]] = [
        ("SELECT body (read rows)", read, reads),
        ("str -> utf-8 bytes (its body)", lambda: [b.encode("utf-8") for b in bodies], n),
        ("JSONDecoder().decode(str)", lambda: [decode(b) for b in bodies], n),
        ("datetime.fromisoformat(occurred_at)",
         lambda: [fromiso(d["occurred_at"]) for d in datas], n),
        ("Actor(kind, id) (makes its JSON too)",
         lambda: [Actor(d["actor"]["kind"], d["actor"]["id"]) for d in datas], n),
        ("RecordedEvent.from_body(str) (all of it)", lambda: [RecordedEvent.from_body(b)
                                                              for b in bodies], n),
    ]
    decoder = json.JSONDecoder()
    scan = decoder.scan_once  # type: ignore[attr-defined]
    moment = datetime.now(UTC)
    actor = Actor("helper", "h42")
    steps += [
        ("  what-if: JSONDecoder().scan_once(str, 0)", lambda: [scan(b, 0) for b in bodies],
         n),
        ("RecordedEvent(...) (NamedTuple, positional)", lambda: [RecordedEvent(
            1, "e", "s:1", 1, "a.b", 1, moment, actor, "o", "success", {}, b"")
            for _ in range(n)], n),
        ("  what-if: plain __slots__ class, positional", lambda: [_Event(
            1, "e", "s:1", 1, "a.b", 1, moment, actor, "o", "success", {}, b"")
            for _ in range(n)], n),
    ]
    say("  per event (timeit, best of 5):")
    for name, fn, per in steps:
        best = min(timeit.repeat(fn, number=3, repeat=5)) / 3 / per
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
                             fromiso(data["occurred_at"]), Actor(who["kind"], who["id"]),
                             data["origin"], data["outcome"], data["payload"], body))

    seconds = statistics.median(timeit.repeat(whatif, number=1, repeat=3))
    say(f"  what-if rebuild (scan_once on the str body kept as str, plain slots event, same "
        f"Actor and fromisoformat, same fold): {seconds:.2f} s, {count / seconds:,.0f} ev/s; "
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
