"""The event-store benchmark: ra's store beside raw sqlite3 and `eventsourcing`.

Run ``python -m bench store`` (about 3-5 minutes here) or ``python -m bench
store --quick`` (well under a minute). What it does:

1. Writes the workloads once, to files in a temp dir on the same disk as
   /tmp: the same ~300-byte events (stream, version, type, actor, payload and
   the canonical body ra's own encoder makes for them) for every system.
2. Builds the big databases used by the read workloads (1,000,000 events by
   default): ra's log through `EventStore.append` in batches of 100 (with a
   signed checkpoint every 100,000 events), then the raw-sqlite3 and
   eventsourcing databases from *the very rows ra stored*.
3. Runs ``rounds`` rounds. In each, every (workload, system) pair runs in a
   fresh subprocess (`worker_main`) on a fresh database file (write
   workloads), systems in a rotated order so drift hits all of them alike.
   Each worker reports its own timing, its peak RSS (VmHWM from
   /proc/self/status: the high-water mark of that process since exec; not
   getrusage's ru_maxrss, which Linux carries over from the parent across
   fork+exec) and the RSS just before the workload started (psutil).
4. Prints a markdown table of medians, checks the targets and writes
   everything (every sample, config, machine, code fingerprint) as JSON to
   ``bench/results/store-<date>[-quick].json``.

Systems
-------
``ra``      `ra.events.store.EventStore` (WAL, synchronous=FULL, its default):
            encodes, hashes and extends the Merkle frontier itself; it is given
            `NewEvent` objects.
``sqlite``  the limit: a plain ``events (seq INTEGER PRIMARY KEY, body TEXT)``
            table, WAL, synchronous=FULL, the pre-encoded bodies; one INSERT in
            its own BEGIN IMMEDIATE/COMMIT per single append, one multi-row
            INSERT in one transaction per batch (the fastest way in; ra does
            the same).
``es``      `eventsourcing.sqlite.SQLiteApplicationRecorder` (the recorder an
            eventsourcing Application uses; it keeps a global order like ra's
            seq) on a `SQLiteDatastore`, given pre-built `StoredEvent` objects
            whose `state` is the same body. The datastore turns WAL on itself;
            synchronous=FULL is set on every connection its pool creates (see
            `_es_datastore`) and both are read back from the pool's
            connections and recorded with each sample.
``es_app``  eventsourcing's own write path, the same job as ra's append: it is
            given eventsourcing `DomainEvent` objects (built outside the clock,
            as ra's `NewEvent`s are) carrying the same type, actor, origin,
            outcome and payload, and its `Mapper` (JSON transcoder with the
            UUID/datetime/Decimal transcodings an eventsourcing Application
            registers) turns them into `StoredEvent`s for the same
            `SQLiteApplicationRecorder` inside the clock.
``es_save`` eventsourcing as its users write: an `Application` (SQLite
            persistence module, synchronous=FULL on every connection) saving
            `Aggregate`s (`bench.es_application`). Each stream is an aggregate;
            the chunk's events are triggered on it outside the clock, and
            `Application.save` (collect, Mapper, the same recorder) runs inside.
            The "2 x eventsourcing" floor is against this; ra's ratio to
            ``es`` and ``es_app`` is printed beside it.
``es_agg``  `eventsourcing.sqlite.SQLiteAggregateRecorder`, same datastore set-up:
            no global order, executemany per batch; appends only, for completeness.

Only the store calls are timed (a perf_counter pair around each append call);
building inputs is outside the clock and is the same for every system.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"

SYSTEMS = ("ra", "sqlite", "es", "es_app", "es_save", "es_agg")
ORIGIN = "bench-host"
BODY_BYTES = 300  # every generated body is padded to exactly this many bytes
BATCH = 100
SINGLE_STREAMS = 100
BATCH_STREAMS = 100
BIG_STREAMS = 1000
CHECKPOINT_EVERY = 100_000
READ_BATCH = 2000

TARGETS = {
    "single_vs_sqlite": 0.7,  # ra single durable appends/s >= 0.7 x raw sqlite3
    "batch_min": 80_000,  # ra batched events/s
    "batch_vs_es": 2.0,  # ra batched >= 2 x eventsourcing's Application.save
    "verify_min": 400_000,  # ra verify events/s
    "rebuild_max_s": 10.0,  # ra projection rebuild of 1,000,000 events
    "rebuild_events": 1_000_000,
}


@dataclass(frozen=True)
class Config:
    rounds: int = 5
    single_events: int = 5000
    batch_events: int = 100_000
    big_events: int = 1_000_000
    quick: bool = False

    @classmethod
    def quick_config(cls) -> Config:
        return cls(rounds=3, single_events=500, batch_events=20_000, big_events=100_000,
                   quick=True)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the events

_TYPES = (
    ("input.sent", ("helper", "h42")),
    ("frame.sent", ("system", "ra")),
    ("clip.copied", ("person", "alice")),
    ("consent.given", ("person", "alice")),
)
_PAD = "0123456789abcdefghijklmnopqrstuvwxyz" * 8
_FIXED_ID = "01234567-89ab-7cde-8f01-234567890abc"  # same length as a UUIDv7
_FIXED_TIME = "2026-01-01T00:00:00.000000Z"  # same length as ra's format_time


@dataclass(frozen=True, slots=True)
class Spec:
    """One event of a workload, as every system receives it."""

    seq: int
    stream: str
    version: int
    type: str
    actor_kind: str
    actor_id: str
    payload: dict[str, Any]
    body: str  # ra's canonical envelope for this event (fixed id and time)

    def line(self) -> str:
        payload = json.dumps(self.payload, sort_keys=True, separators=(",", ":"))
        return "\t".join((self.stream, str(self.version), self.type, self.actor_kind,
                          self.actor_id, payload, self.body)) + "\n"


def _place(index: int, streams: int, batch: int) -> tuple[int, int]:
    """(stream number, stream version) of event `index` when events go in
    batches of `batch` to `streams` streams round-robin."""
    number = index // batch
    stream = number % streams
    version = (number // streams) * batch + index % batch + 1
    return stream, version


def generate(count: int, streams: int, batch: int) -> Iterator[Spec]:
    """`count` events, deterministic, each body exactly BODY_BYTES long."""
    from ra.events.encoding import encode_envelope
    from ra.events.model import Actor, NewEvent

    for index in range(count):
        number, version = _place(index, streams, batch)
        stream = f"s:{number}"
        type_, (kind, actor_id) = _TYPES[index % len(_TYPES)]
        payload: dict[str, Any] = {"n": (index * 7919) % 1000, "d": ""}
        event = NewEvent(type_, payload, actor=Actor(kind, actor_id))
        fields = dict(seq=index, event_id=_FIXED_ID, stream=stream, stream_version=version,
                      occurred_at=_FIXED_TIME, origin=ORIGIN)
        base = len(encode_envelope(event, **fields).encode())
        payload["d"] = _PAD[: max(0, BODY_BYTES - base)]
        body = encode_envelope(NewEvent(type_, payload, actor=Actor(kind, actor_id)),
                               **fields)
        yield Spec(index, stream, version, type_, kind, actor_id, payload, body)


def write_workload(path: Path, count: int, streams: int, batch: int) -> dict[str, Any]:
    total = 0
    with path.open("w", encoding="utf-8") as out:
        for spec in generate(count, streams, batch):
            out.write(spec.line())
            total += len(spec.body.encode())
    return {"events": count, "streams": streams, "batch": batch,
            "mean_body_bytes": total / count}


def read_workload(path: Path) -> Iterator[list[str]]:
    with path.open(encoding="utf-8") as lines:
        for line in lines:
            yield line.rstrip("\n").split("\t")


def chunks(items: Iterator[list[str]], size: int) -> Iterator[list[list[str]]]:
    chunk: list[list[str]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# ------------------------------------------------------------- the systems


def _pragmas(conn: sqlite3.Connection) -> dict[str, Any]:
    return {
        "journal_mode": conn.execute("PRAGMA journal_mode").fetchone()[0],
        "synchronous": {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}[
            conn.execute("PRAGMA synchronous").fetchone()[0]],
    }


def _raw_connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    return conn


def _es_datastore(path: Path) -> Any:
    """An eventsourcing SQLiteDatastore whose every connection runs synchronous=FULL.

    The library sets WAL itself (`SQLiteConnectionPool._create_connection`)
    but leaves synchronous at the build's default, so each connection its
    pool creates is given ``PRAGMA synchronous=FULL`` here; `_es_pragmas`
    reads both settings back from the connections the recorder used.
    """
    from eventsourcing.sqlite import SQLiteDatastore

    from bench.es_application import full_sync

    datastore = SQLiteDatastore(str(path))
    full_sync(datastore.pool)
    return datastore


def _es_pragmas(datastore: Any) -> dict[str, Any]:
    seen = [_pragmas(c._sqlite_conn) for c in list(datastore.pool._pool)]
    if not seen:
        with datastore.get_connection(commit=False) as connection:
            seen = [_pragmas(connection._sqlite_conn)]
    first = seen[0]
    if any(s != first for s in seen):
        return {"journal_mode": "MIXED", "synchronous": "MIXED", "connections": seen}
    return {**first, "connections": len(seen)}


def _es_recorder(path: Path, aggregate: bool = False) -> tuple[Any, Any]:
    from eventsourcing.sqlite import SQLiteAggregateRecorder, SQLiteApplicationRecorder

    datastore = _es_datastore(path)
    kind = SQLiteAggregateRecorder if aggregate else SQLiteApplicationRecorder
    recorder = kind(datastore)
    recorder.create_table()
    return datastore, recorder


def _uuid_for(cache: dict[str, Any], stream: str) -> Any:
    from uuid import NAMESPACE_URL, uuid5

    value = cache.get(stream)
    if value is None:
        value = cache[stream] = uuid5(NAMESPACE_URL, stream)
    return value


def _ra_store(path: Path, key: Path | None = None) -> Any:
    from ra.events.store import EventStore

    return EventStore(path, key_path=key, sync="FULL", origin=ORIGIN)


def _new_event(row: list[str]) -> Any:
    from ra.events.model import Actor, NewEvent

    return NewEvent(row[2], json.loads(row[5]), actor=Actor(row[3], row[4]))


def _stored_event(row: list[str], ids: dict[str, Any]) -> Any:
    from eventsourcing.persistence import StoredEvent

    return StoredEvent(originator_id=_uuid_for(ids, row[0]), originator_version=int(row[1]),
                       topic=row[2], state=row[6].encode())


def _es_mapper() -> Any:
    """An eventsourcing Mapper set up as an eventsourcing Application sets its own."""
    from eventsourcing.persistence import (
        DatetimeAsISO,
        DecimalAsStr,
        JSONTranscoder,
        Mapper,
        UUIDAsHex,
    )

    transcoder = JSONTranscoder()
    for transcoding in (UUIDAsHex(), DecimalAsStr(), DatetimeAsISO()):
        transcoder.register(transcoding)
    return Mapper(transcoder=transcoder)


_EVENT_CLASS: list[Any] = []


def _domain_event(row: list[str], ids: dict[str, Any]) -> Any:
    """The eventsourcing DomainEvent for a workload row (what an aggregate would emit)."""
    if not _EVENT_CLASS:
        from eventsourcing.domain import DomainEvent

        @dataclass(frozen=True)
        class Happened(DomainEvent):
            type: str
            actor: dict[str, str]
            origin: str
            outcome: str
            payload: dict[str, Any]

        Happened.__module__ = __name__
        Happened.__qualname__ = "Happened"
        _EVENT_CLASS.append(Happened)
    return _EVENT_CLASS[0](
        originator_id=_uuid_for(ids, row[0]), originator_version=int(row[1]),
        timestamp=datetime.now(UTC), type=row[2], actor={"kind": row[3], "id": row[4]},
        origin=ORIGIN, outcome="success", payload=json.loads(row[5]))


def _row_stats(system: str, path: Path) -> dict[str, Any]:
    """Rows and mean stored sizes, read after the clock stopped."""
    conn = sqlite3.connect(str(path))
    try:
        if system in ("es", "es_app", "es_save", "es_agg"):
            rows, body, row = conn.execute(
                "SELECT count(*), avg(length(state)), avg(length(originator_id) "
                "+ length(topic) + length(state) + 8) FROM stored_events").fetchone()
        elif system == "ra":
            rows, body, row = conn.execute(
                "SELECT count(*), avg(length(CAST(body AS BLOB))), "
                "avg(length(CAST(body AS BLOB)) + 8 + coalesce(length(span_leaves) "
                "+ length(span_stream) + 8, 0)) FROM events").fetchone()
        else:
            rows, body, row = conn.execute(
                "SELECT count(*), avg(length(CAST(body AS BLOB))), "
                "avg(length(CAST(body AS BLOB)) + 8) FROM events").fetchone()
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    size = path.stat().st_size
    return {"rows": rows, "mean_body_bytes": body, "mean_row_bytes": row,
            "file_bytes_per_event": size / rows if rows else None}


# ------------------------------------------------------------- the workloads


def _append_loop(
    system: str, path: Path, workload: Path, batch: int, out: dict[str, Any]
) -> tuple[list[float], dict[str, Any]]:
    """Append the workload; returns per-call seconds and the pragmas in force.

    `out` gets the RSS taken once the store is open (imports done), just
    before the first append."""
    perf = time.perf_counter
    times: list[float] = []
    rows = read_workload(workload)
    if system == "ra":
        store = _ra_store(path)
        _rss_mark(out)
        pragmas = _pragmas(store.conn)
        append = store.append
        for chunk in chunks(rows, batch):
            events = [_new_event(r) for r in chunk]
            stream, expected = chunk[0][0], int(chunk[0][1]) - 1
            t = perf()
            append(stream, expected, events)
            times.append(perf() - t)
        store.close()
    elif system == "es_app":
        datastore, recorder = _es_recorder(path)
        mapper = _es_mapper()
        _rss_mark(out)
        uuids: dict[str, Any] = {}
        insert_events, to_stored = recorder.insert_events, mapper.to_stored_event
        for chunk in chunks(rows, batch):
            domain = [_domain_event(r, uuids) for r in chunk]
            t = perf()
            insert_events([to_stored(e) for e in domain])
            times.append(perf() - t)
        pragmas = _es_pragmas(datastore)
        datastore.close()
    elif system == "sqlite":
        conn = _raw_connect(path)
        _rss_mark(out)
        pragmas = _pragmas(conn)
        execute = conn.execute
        insert = "INSERT INTO events (body) VALUES (?)"
        for chunk in chunks(rows, batch):
            if batch == 1:
                body = chunk[0][6]
                t = perf()
                execute("BEGIN IMMEDIATE")
                execute(insert, (body,))
                execute("COMMIT")
                times.append(perf() - t)
            else:
                # One multi-row INSERT a batch: SQLite's fastest way in (faster
                # than executemany, and what ra does), so the limit stays one.
                bodies = [r[6] for r in chunk]
                many = "INSERT INTO events (body) VALUES " + ", ".join(["(?)"] * len(bodies))
                t = perf()
                execute("BEGIN IMMEDIATE")
                execute(many, bodies)
                execute("COMMIT")
                times.append(perf() - t)
        conn.close()
    elif system == "es_save":
        from bench.es_application import open_application, trigger

        app, datastore = open_application(path)
        _rss_mark(out)
        aggregates: dict[str, Any] = {}
        save = app.save
        for chunk in chunks(rows, batch):
            aggregate = trigger(aggregates, chunk, ORIGIN)
            t = perf()
            save(aggregate)
            times.append(perf() - t)
        pragmas = _es_pragmas(datastore)
        app.close()
    else:
        datastore, recorder = _es_recorder(path, aggregate=system == "es_agg")
        _rss_mark(out)
        ids: dict[str, Any] = {}
        insert_events = recorder.insert_events
        for chunk in chunks(rows, batch):
            stored = [_stored_event(r, ids) for r in chunk]
            t = perf()
            insert_events(stored)
            times.append(perf() - t)
        pragmas = _es_pragmas(datastore)
        datastore.close()
    return times, pragmas


def _fold(state: dict[str, dict[str, Any]], stream: Any, version: int, type_: str) -> None:
    entry = state.get(stream)
    if entry is None:
        state[stream] = {"version": version, "last_type": type_, "count": 1}
    else:
        entry["version"] = version
        entry["last_type"] = type_
        entry["count"] += 1


class _StreamFold:
    """The benchmark's projection: stream -> {version, last_type, count}."""

    types: frozenset[str] | None = None

    def __init__(self) -> None:
        self.state: dict[str, dict[str, Any]] = {}

    def apply(self, event: Any) -> None:
        _fold(self.state, event.stream, event.stream_version, event.type)


def _ra_rebuild(store: Any) -> tuple[int, int, str]:
    """(events folded, streams, implementation) for ra's projection rebuild.

    Uses `ra.events.projections.rebuild` when that module exists, else folds
    `EventStore.iter_events()` directly; either way into the same state.
    """
    try:
        from ra.events import projections
    except ImportError:
        projections = None  # type: ignore[assignment]
    rebuild = getattr(projections, "rebuild", None)
    fold = _StreamFold()
    if rebuild is not None:
        count = rebuild(store, [fold])
        return int(count), len(fold.state), "ra.events.projections.rebuild"
    apply = fold.apply
    count = 0
    for event in store.iter_events():
        apply(event)
        count += 1
    return count, len(fold.state), "bench fold over EventStore.iter_events()"


def _read_workload(system: str, workload: str, path: Path, key: Path | None) -> dict[str, Any]:
    perf = time.perf_counter
    out: dict[str, Any] = {}
    if system == "ra":
        store = _ra_store(path, key)
        out["pragmas"] = _pragmas(store.conn)
        _rss_mark(out)
        if workload == "verify":
            from ra.events.verify import verify_log

            t = perf()
            report = verify_log(store)
            out["seconds"] = perf() - t
            out["events"] = report.size
            out["ok"] = report.ok
            out["checkpoints"] = report.checkpoints_checked
            if not report.ok:
                out["problem"] = report.summary()
        else:
            t = perf()
            count, streams, impl = _ra_rebuild(store)
            out["seconds"] = perf() - t
            out["events"], out["streams"], out["impl"] = count, streams, impl
            out["ok"] = count == store.size()
        store.close()
    elif system == "sqlite":
        conn = sqlite3.connect(str(path), isolation_level=None)
        conn.execute("PRAGMA synchronous=FULL")
        out["pragmas"] = _pragmas(conn)
        _rss_mark(out)
        count = 0
        if workload == "verify":
            sha256 = hashlib.sha256
            t = perf()
            cursor = conn.execute("SELECT seq, CAST(body AS BLOB) FROM events ORDER BY seq")
            while rows := cursor.fetchmany(20_000):
                for _seq, body in rows:
                    sha256(b"\x00" + body).digest()
                count += len(rows)
            out["seconds"] = perf() - t
            out["ok"] = True
        else:
            state: dict[str, dict[str, Any]] = {}
            loads, fold = json.loads, _fold
            t = perf()
            cursor = conn.execute("SELECT body FROM events ORDER BY seq")
            while rows := cursor.fetchmany(READ_BATCH):
                for (body,) in rows:
                    data = loads(body)
                    fold(state, data["stream"], data["stream_version"], data["type"])
                count += len(rows)
            out["seconds"] = perf() - t
            out["streams"] = len(state)
            out["ok"] = True
        out["events"] = count
        conn.close()
    else:  # es, rebuild only
        datastore, recorder = _es_recorder(path)
        out["pragmas"] = _es_pragmas(datastore)
        _rss_mark(out)
        state = {}
        loads, fold = json.loads, _fold
        select = recorder.select_notifications
        count, start = 0, 1
        t = perf()
        while page := select(start, READ_BATCH):
            for n in page:
                loads(n.state)
                fold(state, n.originator_id, n.originator_version, n.topic)
            count += len(page)
            start = page[-1].id + 1
        out["seconds"] = perf() - t
        out["events"], out["streams"], out["ok"] = count, len(state), True
        out["pragmas"] = _es_pragmas(datastore)
        datastore.close()
    return out


def _rss_mark(out: dict[str, Any]) -> None:
    import psutil  # type: ignore[import-untyped]

    out["rss_before_mib"] = psutil.Process().memory_info().rss / 2**20


def _peak_rss_mib() -> float:
    """This process's peak RSS since it was exec'd: VmHWM from /proc.

    Not getrusage's ru_maxrss: Linux carries that high-water mark over from
    the parent across fork+exec, so every worker would report at least the
    parent's peak. Falls back to ru_maxrss where /proc is missing.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ------------------------------------------------------------- the worker


def worker_main(argv: list[str]) -> int:
    """One measurement in this (fresh) process; prints one JSON object."""
    spec = json.loads(argv[0])
    system, workload = spec["system"], spec["workload"]
    path = Path(spec["db"])
    out: dict[str, Any] = {"system": system, "workload": workload}
    if workload in ("single", "batch"):
        batch = 1 if workload == "single" else BATCH
        t0 = time.perf_counter()
        times, pragmas = _append_loop(system, path, Path(spec["input"]), batch, out)
        out["wall_seconds"] = time.perf_counter() - t0
        out["seconds"] = sum(times)
        out["calls"] = len(times)
        out["pragmas"] = pragmas
        out["stored"] = _row_stats(system, path)
        out["events"] = out["stored"]["rows"]
        out["ok"] = out["events"] == spec["events"]
        if workload == "single":
            ordered = sorted(times)
            out["latency_ms"] = {
                "p50": ordered[len(ordered) // 2] * 1e3,
                "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1e3,
                "max": ordered[-1] * 1e3,
            }
    elif workload == "prepare":
        out.update(_prepare(system, path, spec))
    else:
        key = Path(spec["key"]) if spec.get("key") else None
        out.update(_read_workload(system, workload, path, key))
    out["rate"] = out["events"] / out["seconds"] if out.get("seconds") else None
    out["peak_rss_mib"] = _peak_rss_mib()
    out["load_avg_1m"] = os.getloadavg()[0]
    print(json.dumps(out))
    return 0


def _prepare(system: str, path: Path, spec: dict[str, Any]) -> dict[str, Any]:
    """Build a big database: ra's from generated events, the others from ra's rows."""
    count = spec["events"]
    perf = time.perf_counter
    if system == "ra":
        from ra.events.model import Actor, NewEvent

        store = _ra_store(path, Path(spec["key"]))
        appended, t_append = 0, 0.0
        t0 = perf()
        pending: list[Spec] = []
        for item in generate(count, BIG_STREAMS, BATCH):
            pending.append(item)
            if len(pending) < BATCH:
                continue
            events = [NewEvent(s.type, s.payload, actor=Actor(s.actor_kind, s.actor_id))
                      for s in pending]
            t = perf()
            store.append(pending[0].stream, pending[0].version - 1, events)
            t_append += perf() - t
            appended += len(pending)
            pending = []
            if appended % CHECKPOINT_EVERY == 0 or appended == count:
                store.checkpoint()
            if appended % 50_000 == 0:
                log(f"  ra: {appended:,}/{count:,} events appended "
                    f"({appended / t_append:,.0f} ev/s in append)")
        assert not pending, "big_events must be a multiple of the batch size"
        if count % CHECKPOINT_EVERY:
            store.checkpoint()
        store.close()
        return {"events": appended, "seconds": t_append, "wall_seconds": perf() - t0,
                "stored": _row_stats("ra", path)}
    source = sqlite3.connect(spec["source"])
    cursor = source.execute(
        "SELECT seq, body, json_extract(body, '$.stream'), json_extract(body, '$.stream_version'), "
        "json_extract(body, '$.type') FROM events ORDER BY seq")
    t0 = perf()
    copied = 0
    if system == "sqlite":
        conn = _raw_connect(path)
        while rows := cursor.fetchmany(10_000):
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("INSERT INTO events (seq, body) VALUES (?, ?)",
                             [(seq, body) for seq, body, *_ in rows])
            conn.execute("COMMIT")
            copied += len(rows)
        conn.close()
    else:
        from eventsourcing.persistence import StoredEvent

        datastore, recorder = _es_recorder(path)
        ids: dict[str, Any] = {}
        while rows := cursor.fetchmany(10_000):
            recorder.insert_events([
                StoredEvent(originator_id=_uuid_for(ids, stream), originator_version=version,
                            topic=type_, state=body.encode())
                for _seq, body, stream, version, type_ in rows
            ])
            copied += len(rows)
            if copied % 250_000 == 0:
                log(f"  es: {copied:,}/{count:,} rows copied")
        datastore.close()
    source.close()
    seconds = perf() - t0
    return {"events": copied, "seconds": seconds, "wall_seconds": seconds,
            "stored": _row_stats(system, path)}


def run_worker(spec: dict[str, Any]) -> dict[str, Any]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "worker", json.dumps(spec)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=None, text=True, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"worker {spec['system']}/{spec['workload']} failed "
                           f"(exit {proc.returncode})")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


# ------------------------------------------------------------- the run


WORKLOADS: dict[str, tuple[str, ...]] = {
    "single": SYSTEMS,
    "batch": SYSTEMS,
    "verify": ("ra", "sqlite"),
    "rebuild": ("ra", "sqlite", "es"),
}


def rotate(items: tuple[str, ...], by: int) -> list[str]:
    by %= len(items)
    return list(items[by:] + items[:by])


def run(config: Config, tmp: Path, command: str = "") -> dict[str, Any]:
    started = time.perf_counter()
    load_at_start = os.getloadavg()
    code_at_start = code_fingerprint()
    log(f"bench store: {config}, temp dir {tmp}, load average {load_at_start}")
    inputs: dict[str, Any] = {}
    single_input, batch_input = tmp / "single.tsv", tmp / "batch.tsv"
    inputs["single"] = write_workload(single_input, config.single_events, SINGLE_STREAMS, 1)
    inputs["batch"] = write_workload(batch_input, config.batch_events, BATCH_STREAMS, BATCH)
    log(f"workloads written: {inputs}")

    big = {s: tmp / f"big-{s}.db" for s in ("ra", "sqlite", "es")}
    key = tmp / "ra-log.key"
    prepared: dict[str, Any] = {}
    log(f"building the {config.big_events:,}-event databases (ra first, batched appends)")
    prepared["ra"] = run_worker({"system": "ra", "workload": "prepare", "db": str(big["ra"]),
                                 "events": config.big_events, "key": str(key)})
    for system in ("sqlite", "es"):
        prepared[system] = run_worker({"system": system, "workload": "prepare",
                                       "db": str(big[system]), "events": config.big_events,
                                       "source": str(big["ra"])})
        log(f"  {system}: copied ra's {config.big_events:,} rows in "
            f"{prepared[system]['seconds']:.1f} s")

    samples: list[dict[str, Any]] = []
    for round_ in range(config.rounds):
        for workload, systems in WORKLOADS.items():
            for system in rotate(systems, round_):
                spec: dict[str, Any] = {"system": system, "workload": workload}
                if workload in ("single", "batch"):
                    db = tmp / f"r{round_}-{workload}-{system}.db"
                    spec.update(db=str(db), events=inputs[workload]["events"],
                                input=str(single_input if workload == "single"
                                          else batch_input))
                else:
                    db = big[system]
                    spec.update(db=str(db), key=str(key) if system == "ra" else None)
                result = run_worker(spec)
                result["round"] = round_
                samples.append(result)
                if workload in ("single", "batch"):
                    for suffix in ("", "-wal", "-shm"):
                        Path(f"{db}{suffix}").unlink(missing_ok=True)
                flag = "" if result.get("ok") else "  NOT OK"
                log(f"[round {round_ + 1}/{config.rounds}] {workload:7} {system:6} "
                    f"{result['rate']:>12,.0f} ev/s  {result['seconds']:7.3f} s  "
                    f"peak RSS {result['peak_rss_mib']:6.1f} MiB{flag}")
    summary = summarise(samples)
    return {
        "benchmark": "store",
        "date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command or "python -m bench store" + (" --quick" if config.quick else ""),
        "config": asdict(config),
        "constants": {"body_bytes": BODY_BYTES, "batch": BATCH, "single_streams":
                      SINGLE_STREAMS, "batch_streams": BATCH_STREAMS,
                      "big_streams": BIG_STREAMS, "checkpoint_every": CHECKPOINT_EVERY},
        "machine": {**machine(tmp), "load_avg_at_start": load_at_start},
        "code": {**code_at_start, "changed_during_run": (
            code_fingerprint()["ra_events_sha256"] != code_at_start["ra_events_sha256"])},
        "inputs": inputs,
        "prepared": prepared,
        "summary": summary,
        "targets": targets(summary, config),
        "samples": samples,
        "run_seconds": time.perf_counter() - started,
    }


def summarise(samples: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    keys = sorted({(s["workload"], s["system"]) for s in samples})
    for workload, system in keys:
        group = [s for s in samples if s["workload"] == workload and s["system"] == system]
        rates = [s["rate"] for s in group]
        entry: dict[str, Any] = {
            "n": len(group),
            "events": group[0]["events"],
            "rate_median": statistics.median(rates),
            "rate_min": min(rates),
            "rate_max": max(rates),
            "seconds_median": statistics.median(s["seconds"] for s in group),
            "peak_rss_mib_median": statistics.median(s["peak_rss_mib"] for s in group),
            "rss_before_mib_median": statistics.median(s["rss_before_mib"] for s in group),
            "all_ok": all(s.get("ok") for s in group),
            "pragmas": group[0].get("pragmas"),
        }
        if "stored" in group[0]:
            entry["mean_body_bytes"] = group[0]["stored"]["mean_body_bytes"]
            entry["mean_row_bytes"] = group[0]["stored"]["mean_row_bytes"]
            entry["file_bytes_per_event"] = statistics.median(
                s["stored"]["file_bytes_per_event"] for s in group)
        if "latency_ms" in group[0]:
            entry["latency_p50_ms_median"] = statistics.median(
                s["latency_ms"]["p50"] for s in group)
            entry["latency_p99_ms_median"] = statistics.median(
                s["latency_ms"]["p99"] for s in group)
        if "impl" in group[0]:
            entry["impl"] = group[0]["impl"]
        out[f"{workload}/{system}"] = entry
    return out


def targets(summary: dict[str, dict[str, Any]], config: Config) -> list[dict[str, Any]]:
    def rate(key: str) -> float:
        return float(summary[key]["rate_median"])

    rows = []
    ra_single, raw_single = rate("single/ra"), rate("single/sqlite")
    rows.append({"target": "single durable append >= 0.7 x raw sqlite3",
                 "value": f"{ra_single / raw_single:.2f} x ({ra_single:,.0f} vs "
                          f"{raw_single:,.0f} ev/s)",
                 "met": ra_single >= TARGETS["single_vs_sqlite"] * raw_single})
    ra_batch = rate("batch/ra")
    rows.append({"target": "batched (100/batch) >= 80,000 events/s",
                 "value": f"{ra_batch:,.0f} ev/s", "met": ra_batch >= TARGETS["batch_min"]})
    save_batch = rate("batch/es_save")
    rows.append({"target": "batched >= 2 x eventsourcing's Application.save (its users' path)",
                 "value": f"{ra_batch / save_batch:.2f} x ({ra_batch:,.0f} vs {save_batch:,.0f})",
                 "met": ra_batch >= TARGETS["batch_vs_es"] * save_batch})
    ra_verify = rate("verify/ra")
    rows.append({"target": "verify >= 400,000 events/s", "value": f"{ra_verify:,.0f} ev/s",
                 "met": ra_verify >= TARGETS["verify_min"]})
    rebuild = summary["rebuild/ra"]
    seconds = float(rebuild["seconds_median"])
    events = int(rebuild["events"])
    wanted = TARGETS["rebuild_events"]
    projected = seconds * wanted / events
    note = "" if events == wanted else (
        f" (measured {seconds:.2f} s over {events:,} events, scaled linearly: "
        "run without --quick for the real figure)")
    rows.append({"target": "rebuild of 1,000,000 events <= 10 s",
                 "value": f"{projected:.2f} s{note}",
                 "met": projected <= TARGETS["rebuild_max_s"],
                 "extrapolated": events != wanted})
    return rows


# ------------------------------------------------------------- reporting

_LABEL = {"ra": "ra (EventStore)",
          "sqlite": "raw sqlite3 (limit)",
          "es": "eventsourcing SQLiteApplicationRecorder (given encoded StoredEvents)",
          "es_app": "eventsourcing Mapper + SQLiteApplicationRecorder (from DomainEvents)",
          "es_save": "eventsourcing Application.save of Aggregates (its users' write path)",
          "es_agg": "eventsourcing SQLiteAggregateRecorder (no global order)"}
_WHAT = {
    "single": "durable single-event appends/s",
    "batch": "batched events/s (100 a batch)",
    "verify": "verify events/s",
    "rebuild": "projection rebuild",
}


def markdown(result: dict[str, Any]) -> str:
    summary = result["summary"]
    rounds = result["config"]["rounds"]
    lines = [
        f"Medians of {rounds} rounds; range = min-max over the rounds; peak RSS = median "
        "VmHWM of the fresh worker process (its RSS just before the workload in brackets).",
        "",
        "| workload | system | events | median | range | peak RSS MiB | mean body B |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for workload in WORKLOADS:
        for system in SYSTEMS:
            entry = summary.get(f"{workload}/{system}")
            if entry is None:
                continue
            if workload == "rebuild":
                median = f"{entry['seconds_median']:.2f} s ({entry['rate_median']:,.0f} ev/s)"
                span = f"{entry['events'] / entry['rate_max']:.2f}-" \
                       f"{entry['events'] / entry['rate_min']:.2f} s"
            else:
                median = f"{entry['rate_median']:,.0f}"
                span = f"{entry['rate_min']:,.0f}-{entry['rate_max']:,.0f}"
            body = entry.get("mean_body_bytes")
            if body is None:
                body = result["prepared"][system]["stored"]["mean_body_bytes"]
            ok = "" if entry["all_ok"] else " (FAILED CHECK)"
            lines.append(
                f"| {_WHAT[workload]} | {_LABEL[system]}{ok} | {entry['events']:,} | {median} "
                f"| {span} | {entry['peak_rss_mib_median']:.1f} "
                f"({entry['rss_before_mib_median']:.1f}) | {body:.1f} |")
    lines += ["", "| target | measured | met |", "|---|---|---|"]
    for row in result["targets"]:
        lines.append(f"| {row['target']} | {row['value']} | "
                     f"{'yes' if row['met'] else '**no**'} |")
    single = {s: summary[f"single/{s}"] for s in SYSTEMS}
    lines += ["", "Single-append latency, median of rounds: " + "; ".join(
        f"{s} p50 {single[s]['latency_p50_ms_median']:.3f} ms, "
        f"p99 {single[s]['latency_p99_ms_median']:.3f} ms" for s in SYSTEMS) + "."]
    batch = {s: summary[f"batch/{s}"]["rate_median"] for s in SYSTEMS}
    lines.append("ra's batched rate over eventsourcing's other write paths: " + "; ".join(
        f"{_LABEL[s]} {batch['ra'] / batch[s]:.2f} x" for s in ("es_app", "es", "es_agg"))
                 + ".")
    lines.append("Stored bytes per event (database file after a TRUNCATE checkpoint, "
                 "batch workload): " + "; ".join(
                     f"{s} {summary[f'batch/{s}']['file_bytes_per_event']:.0f}" for s in SYSTEMS)
                 + ".")
    if result["code"].get("changed_during_run"):
        lines.append("WARNING: ra/events changed while this ran; the samples mix code "
                     "versions. Run again.")
    lines.append("Pragmas in force: " + "; ".join(
        f"{s} {summary[f'single/{s}']['pragmas']['journal_mode']}/"
        f"{summary[f'single/{s}']['pragmas']['synchronous']}" for s in SYSTEMS) + ".")
    return "\n".join(lines)


def _command(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, check=False,
                              cwd=ROOT).stdout.strip()
    except OSError:
        return ""


def machine(tmp: Path) -> dict[str, Any]:
    import psutil

    model = next((line.split(":", 1)[1].strip() for line in _command(["lscpu"]).splitlines()
                  if line.startswith("Model name")), platform.processor())
    mount = _command(["findmnt", "-no", "SOURCE,FSTYPE,OPTIONS", "-T", str(tmp)])
    device = mount.split()[0] if mount else ""
    disk = _command(["lsblk", "-dno", "NAME,SIZE,ROTA,TYPE,MODEL", device]) if device else ""
    return {
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "tmp_dir": str(tmp),
        "tmp_mount": mount,
        "disk": disk,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "kernel": platform.release(),
        "load_avg_at_end": os.getloadavg(),
    }


def code_fingerprint() -> dict[str, Any]:
    """Which ra the numbers belong to (others edit it while this runs; each
    worker imports ra afresh, so a change mid-run is flagged)."""
    files = sorted((ROOT / "ra" / "events").glob("*.py"))
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    dirty = _command(["git", "status", "--porcelain", "--", "ra"]).splitlines()
    return {
        "git_head": _command(["git", "rev-parse", "HEAD"]),
        "ra_dirty_files": dirty,
        "ra_events_sha256": digest.hexdigest(),
        "projections_module": (ROOT / "ra" / "events" / "projections.py").exists(),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench store", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smaller and fewer rounds")
    parser.add_argument("--rounds", type=int, help="rounds (default 5, quick 3)")
    parser.add_argument("--big-events", type=int, help="events in the verify/rebuild log")
    parser.add_argument("--tmp-dir", type=Path, default=None,
                        help="parent of the scratch dir (default: the system temp dir, /tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch databases")
    parser.add_argument("--out", type=Path, help="JSON output (default bench/results/...)")
    args = parser.parse_args(argv)
    config = Config.quick_config() if args.quick else Config()
    if args.rounds:
        config = Config(**{**asdict(config), "rounds": args.rounds})
    if args.big_events:
        if args.big_events % BATCH:
            parser.error(f"--big-events must be a multiple of {BATCH}")
        config = Config(**{**asdict(config), "big_events": args.big_events})
    tmp = Path(tempfile.mkdtemp(prefix="ra-bench-", dir=args.tmp_dir))
    try:
        command = " ".join([Path(sys.executable).name, "-m", "bench", "store", *argv])
        result = run(config, tmp, command)
    finally:
        if args.keep:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    table = markdown(result)
    print(table)
    out = args.out or RESULTS / (
        f"store-{datetime.now().strftime('%Y-%m-%d')}{'-quick' if config.quick else ''}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    result["markdown"] = table
    out.write_text(json.dumps(result, indent=2) + "\n")
    log(f"results written to {out} (run took {result['run_seconds']:.0f} s)")
    return 0 if all(s.get("ok") for s in result["samples"]) else 1


__all__ = ["Config", "main", "run", "worker_main"]
