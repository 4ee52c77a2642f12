"""The append-only event store on SQLite.

Theory of operation
-------------------
The log is one table, ``events``, with one row per event: its global
``seq`` (gapless, in commit order, and the event's leaf index in the Merkle
tree) and its ``body``, the canonical JSON of the whole event, the only copy
of its content. The first event of each append also carries the append's
*span*: its stream (``span_stream``), the stream's version after it
(``span_last``) and the leaf hashes of its events, SHA-256(0x00 || body),
32 bytes each in seq order (``span_leaves``; so also how many events it
wrote). The other rows leave those NULL. The spans are the stream index: a
partial unique index on (span_stream, span_last) holds only the rows that
carry one, and finds a stream's current version and its events. One index
entry per append, and nothing but the body on most rows, is what lets a
batch of 100 go in, as one multi-row INSERT, at nearly the speed of a bare
two-column table. Verification (`ra.events.verify`) checks that the spans
tile the log exactly, that each body hashes to its leaf and names its own
seq and the stream and version its span gives it, and that each stream's
versions run 1, 2, 3, ...; reading a stream checks the same for what it
returns. Every field of every event is offered for queries by the
``audit_log`` view, read from the body.

An append runs in ``BEGIN IMMEDIATE``: it takes the write lock, checks the
stream's version against the version the caller expects (a conflict fails the
whole append), numbers the events after the last ``seq``, extends the Merkle
tree's frontier (O(log n) hashes per event) and commits the events and their
span as one transaction. A store that made the log's last append already
knows the next seq and its streams' versions, so it inserts without reading
them; if another process appended since, that seq is taken, the insert fails
on the primary key, and the store starts again on the state it reads. The
frontier lives in memory and is caught up from the spans' leaf hashes when
another process appended meanwhile; ``tree_state`` keeps a copy on disk,
rewritten every `TREE_STATE_EVERY` events and at each checkpoint, so a new
process reads at most that many leaves to start. Triggers refuse UPDATE and
DELETE on ``events`` and ``checkpoints``; verification (`ra.events.verify`)
assumes an attacker may drop them and does not rely on them.

The database runs in WAL mode with ``synchronous=FULL`` by default: an
append that returned is on disk. ``NORMAL`` may be chosen; the mode in force
is written into every checkpoint.
"""

from __future__ import annotations

import errno
import os
import socket
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ra.events import canonical
from ra.events.checkpoint import Checkpoint, load_or_create_key, public_bytes
from ra.events.encoding import encode_batch
from ra.events.errors import AppendError, ConcurrencyError, LogStateError, StoreError
from ra.events.ids import uuid7
from ra.events.merkle import EMPTY_ROOT, Frontier, MerkleError
from ra.events.model import (
    NewEvent,
    RecordedEvent,
    format_time,
    stamp_now,
    utc_now,
    validate_stream,
)
from ra.home import Home

if TYPE_CHECKING:
    import sqlite_utils

SyncMode = Literal["FULL", "NORMAL"]
SCHEMA_VERSION = 3
#: The on-disk copy of the Merkle frontier is rewritten when the log crosses a multiple of this.
TREE_STATE_EVERY = 1024
#: Bytes of one leaf hash in ``span_leaves``.
LEAF = 32
_SYNC_NAMES = {0: "OFF", 1: "NORMAL", 2: "FULL", 3: "EXTRA"}


def _field(path: str, name: str) -> str:
    return f"json_extract(body, '$.{path}') AS {name}"


#: Every field of every event, for reports and ad-hoc SQL (`ra audit report`),
#: read from the body when queried, so it can never drift from what is hashed.
AUDIT_VIEW = f"""CREATE VIEW IF NOT EXISTS audit_log AS SELECT
    seq, {_field("event_id", "event_id")}, {_field("stream", "stream")},
    {_field("stream_version", "stream_version")}, {_field("type", "type")},
    {_field("schema_version", "schema_version")}, {_field("occurred_at", "occurred_at")},
    {_field("actor.kind", "actor_kind")}, {_field("actor.id", "actor_id")},
    {_field("origin", "origin")}, {_field("outcome", "outcome")},
    {_field("payload", "payload")}, body
FROM events"""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    body TEXT NOT NULL,
    span_stream TEXT,
    span_last INTEGER,
    span_leaves BLOB
);
CREATE UNIQUE INDEX IF NOT EXISTS events_spans ON events (span_stream, span_last)
    WHERE span_last IS NOT NULL;
{AUDIT_VIEW};
CREATE TABLE IF NOT EXISTS tree_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    size INTEGER NOT NULL,
    frontier BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY,
    statement TEXT NOT NULL,
    signature BLOB NOT NULL
);
CREATE TRIGGER IF NOT EXISTS events_refuse_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS events_refuse_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the event log is append-only: DELETE refused'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_refuse_update BEFORE UPDATE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_refuse_delete BEFORE DELETE ON checkpoints
BEGIN SELECT RAISE(ABORT, 'checkpoints are append-only: DELETE refused'); END;
"""

# The stream's version and the last seq, in one statement.
_APPEND_STATE = (
    "SELECT (SELECT max(span_last) FROM events WHERE span_stream = ? AND span_last IS NOT NULL), "
    "(SELECT max(seq) FROM events)"
)
#: The most events one INSERT statement writes (a bigger append takes several).
INSERT_ROWS = 500
_INSERTS: dict[tuple[int, bool], str] = {}


def insert_events(n: int, *, span: bool = True) -> str:
    """The INSERT of `n` events in one statement (one step for SQLite, not `n`).

    Its parameters are `encode_batch`'s rows: the first event's seq and body
    and its span (stream, last version, leaf hashes), then seq and body of
    each other event. ``span=False`` is for the rest of a batch too big for
    one statement: seq and body only.
    """
    sql = _INSERTS.get((n, span))
    if sql is None:
        head = "INSERT INTO events (seq, body, span_stream, span_last, span_leaves) VALUES "
        rows = ["(?, ?, ?, ?, ?)"] if span else []
        rows += ["(?, ?, NULL, NULL, NULL)"] * (n - len(rows))
        sql = _INSERTS[(n, span)] = head + ", ".join(rows)
    return sql


#: (seq, the event's stream version) of one stream's events after a version
#: (params: stream, version), found through its spans: the span on an
#: append's first event covers the next ``length(span_leaves) / LEAF`` seqs.
STREAM_SEQS = (
    f"SELECT e.seq AS seq, s.span_last - (s.seq + length(s.span_leaves) / {LEAF} - 1 - e.seq) "
    "AS version FROM events s JOIN events e ON e.seq >= s.seq "
    f"AND e.seq < s.seq + length(s.span_leaves) / {LEAF} "
    "WHERE s.span_stream = ? AND s.span_last IS NOT NULL AND s.span_last > ?"
)

TRIGGERS = (
    "events_refuse_update",
    "events_refuse_delete",
    "checkpoints_refuse_update",
    "checkpoints_refuse_delete",
)


class EventStore:
    """The log: append events, read them back, sign checkpoints."""

    def __init__(
        self,
        path: str | Path,
        *,
        sync: SyncMode = "FULL",
        key_path: Path | None = None,
        clock: Callable[[], datetime] = utc_now,
        origin: str | None = None,
        busy_timeout: float = 30.0,
    ) -> None:
        if sync not in ("FULL", "NORMAL"):
            raise StoreError(f"sync mode must be FULL or NORMAL, not {sync!r}")
        self.path = Path(path)
        self._clock = clock
        self._key_path = key_path
        self._key: Ed25519PrivateKey | None = None
        #: The Merkle frontier at the size last seen (caught up on use).
        self._frontier: Frontier | None = None
        #: The versions of the streams this store appended to, as of that size.
        self._versions: dict[str, int] = {}
        self.origin = origin or socket.gethostname()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            _create_private(self.path)
            self.conn = sqlite3.connect(
                str(self.path), timeout=busy_timeout, isolation_level=None
            )
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute(f"PRAGMA synchronous={sync}")
            self._create_schema()
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the event log {self.path}: {exc}") from None
        except OSError as exc:
            raise StoreError(f"cannot open the event log {self.path}: {exc.strerror}") from None
        self.log_id: str = self._meta("log_id")

    @classmethod
    def open(cls, home: Home, *, sync: SyncMode | None = None, **kwargs: object) -> EventStore:
        """The log of an RA_HOME (created on first use).

        The sync mode is FULL unless `sync` or ``$RA_SYNC`` says NORMAL (faster;
        a power cut may lose the last commits, never corrupt the log). The mode
        in force is written into every checkpoint.
        """
        home.ensure()
        if sync is None:
            chosen = os.environ.get("RA_SYNC", "FULL").strip().upper() or "FULL"
            if chosen not in ("FULL", "NORMAL"):
                raise StoreError(f"RA_SYNC must be FULL or NORMAL, not {chosen!r}")
            sync = "NORMAL" if chosen == "NORMAL" else "FULL"
        return cls(home.database, sync=sync, key_path=home.log_key, **kwargs)  # type: ignore[arg-type]

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- schema ---------------------------------------------------------

    def _create_schema(self) -> None:
        ready = self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
        ).fetchone() and self.conn.execute(
            "SELECT 1 FROM meta WHERE key = 'log_id'"
        ).fetchone()
        if not ready:
            self._create_tables()  # only a new log takes the write lock to open
        version = self._meta("schema_version")
        if version != str(SCHEMA_VERSION):
            raise StoreError(
                f"{self.path} is log schema {version}; this ra reads schema {SCHEMA_VERSION}"
                + ("; `ra audit migrate` brings it up to date, losing nothing"
                   if version.isdigit() and int(version) < SCHEMA_VERSION else "")
            )

    def _create_tables(self) -> None:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            existing = self.conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'"
            ).fetchone()
            for statement in _statements(SCHEMA):
                # The triggers are made with the table, never again: a log whose
                # triggers were dropped keeps that evidence for `verify`.
                if existing and statement.startswith("CREATE TRIGGER"):
                    continue
                self.conn.execute(statement)
            self.conn.execute(
                "INSERT OR IGNORE INTO tree_state (id, size, frontier) VALUES (1, 0, x'')"
            )
            self.conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )
            self.conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('log_id', ?)", (uuid7(),)
            )
            self.conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('created_at', ?)",
                (format_time(self._clock()),),
            )
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def _meta(self, key: str) -> str:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        if row is None:
            raise LogStateError(f"the log has no {key!r} record")
        return str(row[0])

    @property
    def db(self) -> sqlite_utils.Database:
        """The same connection through sqlite-utils, for queries and reports."""
        import sqlite_utils  # imported on first use: the append path does not need it

        return sqlite_utils.Database(self.conn)

    @property
    def sync_mode(self) -> str:
        value = self.conn.execute("PRAGMA synchronous").fetchone()[0]
        return _SYNC_NAMES.get(int(value), str(value))

    @property
    def log_origin(self) -> str:
        """The name checkpoints give this log."""
        return f"ra-log/{self.log_id}"

    # -- append ---------------------------------------------------------

    def append(
        self,
        stream: str,
        expected_version: int | None,
        events: Sequence[NewEvent],
        *,
        now: datetime | None = None,
    ) -> Sequence[RecordedEvent]:
        """Append `events` to `stream` as one transaction, or nothing at all.

        `expected_version` is the stream's version the caller decided on (0
        for a new stream); if another writer moved it first, nothing is
        appended and `ConcurrencyError` says so. ``None`` skips that check.
        """
        validate_stream(stream)
        for event in events:
            event.validate()
        if not events:
            return ()
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise AppendError(f"the event log is busy or unwritable: {exc}") from None
        count = len(events)
        try:
            # When this store made the last append, it knows the next seq and
            # this stream's version without asking: it inserts straight away,
            # and if anyone else appended meanwhile, that seq is taken and the
            # insert fails, so it reads the state and starts again.
            frontier = self._frontier
            current = self._versions.get(stream)
            if frontier is not None and current is not None and expected_version in (None, current):
                known, size = True, frontier.size
            else:
                known = False
                current, size, frontier = self._append_state(stream, expected_version)
            while True:
                # Time is read under the write lock (again if the log moved on),
                # so occurred_at never goes back in seq order; the real now
                # also dates the event ids.
                if now is None and self._clock is utc_now:
                    occurred_at, now_ms = stamp_now()
                else:
                    occurred_at, now_ms = format_time(now or self._clock()), None
                rows, leaves, records = encode_batch(
                    events, first_seq=size, first_version=current + 1, stream=stream,
                    occurred_at=occurred_at, origin=self.origin, now_ms=now_ms,
                )
                try:
                    if count <= INSERT_ROWS:
                        conn.execute(insert_events(count), rows)
                    else:  # the first statement carries the span; the rest follow
                        head = 3 + 2 * INSERT_ROWS
                        conn.execute(insert_events(INSERT_ROWS), rows[:head])
                        for at in range(head, len(rows), 2 * INSERT_ROWS):
                            part = rows[at:at + 2 * INSERT_ROWS]
                            conn.execute(insert_events(len(part) // 2, span=False), part)
                    break
                except sqlite3.IntegrityError:
                    if not known:
                        raise
                    known = False  # the log moved on: start again on its state
                    conn.execute("ROLLBACK")
                    conn.execute("BEGIN IMMEDIATE")
                    current, size, frontier = self._append_state(stream, expected_version)
            self._frontier = None  # extended in place below: kept only if the commit holds
            save_state = (size + count) // TREE_STATE_EVERY != size // TREE_STATE_EVERY
            frontier.extend(leaves)
            if save_state:
                self._save_tree_state(frontier)
            conn.execute("COMMIT")
        except BaseException as exc:
            self._versions.clear()
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.DatabaseError):
                raise AppendError(f"the event log refused the append: {exc}") from None
            raise
        self._frontier = frontier
        versions = self._versions
        if len(versions) > 4096:
            versions.clear()
        versions[stream] = current + count
        return records

    def _append_state(
        self, stream: str, expected_version: int | None
    ) -> tuple[int, int, Frontier]:
        """(stream version, log size, frontier) read under the write lock."""
        current, last = self.conn.execute(_APPEND_STATE, (stream,)).fetchone()
        current = current or 0
        if expected_version is not None and current != expected_version:
            raise ConcurrencyError(stream, expected_version, current)
        size = 0 if last is None else last + 1
        frontier = self._frontier
        if frontier is None or frontier.size != size:
            frontier = self._frontier_at(size)
        return current, size, frontier

    # -- the Merkle frontier -----------------------------------------------

    def _frontier_at(self, size: int) -> Frontier:
        """The frontier of the first `size` events (call inside a transaction).

        Starts from the one in memory, or from ``tree_state``, and extends it
        with the stored leaf hashes it lacks (events other processes appended).
        """
        frontier = self._frontier
        if frontier is None or frontier.size != size:
            self._versions.clear()  # the log moved under this store: its versions are stale
        if frontier is None or frontier.size > size:
            row = self.conn.execute("SELECT size, frontier FROM tree_state WHERE id = 1").fetchone()
            if row is None:
                raise LogStateError("the log's tree state is missing; run `ra audit verify`")
            try:
                frontier = Frontier.from_bytes(int(row[0]), bytes(row[1]))
            except (MerkleError, TypeError, ValueError):
                raise LogStateError(
                    "the log's tree state is damaged; run `ra audit verify`"
                ) from None
            if frontier.size > size:
                raise LogStateError(
                    f"the log's tree state covers {frontier.size} events but the log has "
                    f"{size}: the log was altered; run `ra audit verify`"
                )
        if frontier.size < size:
            leaves = self._stored_leaves(frontier.size, size)
            frontier = frontier.copy()
            try:
                frontier.extend(leaves)
            except MerkleError:
                raise LogStateError(
                    "a stored leaf hash is damaged; run `ra audit verify`"
                ) from None
        self._frontier = frontier
        return frontier

    def _save_tree_state(self, frontier: Frontier) -> None:
        self.conn.execute(
            "UPDATE tree_state SET size = ?, frontier = ? WHERE id = 1",
            (frontier.size, frontier.to_bytes()),
        )

    def _stored_leaves(self, lo: int, hi: int) -> list[bytes]:
        """The leaf hashes of seqs lo..hi-1 as the spans hold them."""
        found = bytearray()
        start = end = None
        for first, leaves in self.conn.execute(
            # from the span that holds seq lo: the last one to start at or before it
            "SELECT seq, CAST(span_leaves AS BLOB) FROM events WHERE span_last IS NOT NULL "
            "AND seq < ? AND seq >= coalesce((SELECT seq FROM events WHERE seq <= ? "
            "AND span_last IS NOT NULL ORDER BY seq DESC LIMIT 1), 0) ORDER BY seq",
            (hi, lo),
        ):
            leaves = bytes(leaves or b"")
            if start is None:
                start = end = first
            if first != end or not leaves or len(leaves) % LEAF:
                break
            found += leaves
            end = first + len(leaves) // LEAF
        if start is None or end is None or start > lo or end < hi:
            raise LogStateError(
                f"the stream index lacks the leaf hashes of events {lo} to {hi - 1}: "
                "the log was altered; run `ra audit verify`"
            )
        hashes = bytes(found[(lo - start) * LEAF:(hi - start) * LEAF])
        return [hashes[i:i + LEAF] for i in range(0, len(hashes), LEAF)]

    def _current_frontier(self) -> Frontier:
        """The frontier of the whole log, read in one snapshot."""
        conn = self.conn
        own = not conn.in_transaction
        if own:
            conn.execute("BEGIN")
        try:
            return self._frontier_at(self.size())
        finally:
            if own:
                conn.execute("COMMIT")

    # -- read -----------------------------------------------------------

    def size(self) -> int:
        """How many events the log holds (its last seq + 1)."""
        row = self.conn.execute("SELECT max(seq) FROM events").fetchone()
        return 0 if row[0] is None else int(row[0]) + 1

    def root(self) -> bytes:
        """The Merkle root of the whole log."""
        frontier = self._current_frontier()
        return frontier.root() if frontier.size else EMPTY_ROOT

    def stream_version(self, stream: str) -> int:
        row = self.conn.execute(
            "SELECT max(span_last) FROM events WHERE span_stream = ? AND span_last IS NOT NULL",
            (stream,),
        ).fetchone()
        return int(row[0] or 0)

    def read_stream(self, stream: str, after_version: int = 0) -> list[RecordedEvent]:
        """The stream's events after `after_version`, in order.

        What the stream index returns is checked: the same stream, versions
        after_version + 1, + 2, ... up to the stream's version, with none
        missing, so a damaged index cannot make a stream read differently.
        (An index that hides a stream's last appends altogether reads as a
        shorter stream; `ra audit verify` reports those events as in no span.)
        """
        conn = self.conn
        own = not conn.in_transaction
        if own:
            conn.execute("BEGIN")  # one snapshot for the events and the version
        try:
            rows = conn.execute(
                f"SELECT body FROM events WHERE seq IN (SELECT seq FROM ({STREAM_SEQS}) "
                "WHERE version > ?) ORDER BY seq",
                (stream, after_version, after_version),
            ).fetchall()
            current = self.stream_version(stream)
        finally:
            if own:
                conn.execute("COMMIT")
        events = [self._decode(body) for (body,) in rows]
        expected = after_version
        for event in events:
            expected += 1
            if event.stream != stream or event.stream_version != expected:
                raise LogStateError(
                    f"the stream index of {stream} is damaged at version {expected}; "
                    "run `ra audit verify`"
                )
        if expected != max(current, after_version):
            raise LogStateError(
                f"the stream index of {stream} is damaged after version {expected}; "
                "run `ra audit verify`"
            )
        return events

    def iter_events(
        self,
        *,
        stream: str | None = None,
        stream_prefix: str | None = None,
        types: Sequence[str] | None = None,
        since: datetime | None = None,
        after_seq: int = -1,
        limit: int | None = None,
        batch: int = 2000,
    ) -> Iterator[RecordedEvent]:
        """Events in seq order, filtered; read in batches (memory stays flat)."""
        where = ["seq > ?"]
        params: list[object] = [after_seq]
        if stream is not None:
            where.append(f"seq IN (SELECT seq FROM ({STREAM_SEQS}))")
            params += [stream, 0]
        if stream_prefix is not None:
            where.append(
                "seq IN (SELECT e.seq FROM events s JOIN events e ON e.seq >= s.seq "
                f"AND e.seq < s.seq + length(s.span_leaves) / {LEAF} WHERE s.span_last IS NOT NULL "
                "AND substr(s.span_stream, 1, ?) = ?)")
            params += [len(stream_prefix), stream_prefix]
        if types:
            patterns = [t for t in types if t.endswith(".*")]
            exact = [t for t in types if not t.endswith(".*")]
            ors = []
            kind = "json_extract(body, '$.type')"
            if exact:
                ors.append(f"{kind} IN ({', '.join('?' * len(exact))})")
                params += exact
            for pattern in patterns:
                ors.append(f"substr({kind}, 1, ?) = ?")
                params += [len(pattern) - 1, pattern[:-1]]
            where.append("(" + " OR ".join(ors) + ")")
        if since is not None:
            where.append("json_extract(body, '$.occurred_at') >= ?")
            params.append(format_time(since))
        sql = f"SELECT body FROM events WHERE {' AND '.join(where)} ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        try:
            cursor = self.conn.execute(sql, params)
            while True:
                rows = cursor.fetchmany(batch)
                if not rows:
                    return
                for (body,) in rows:
                    yield self._decode(body)
        except sqlite3.DatabaseError as exc:  # json_extract on a body that is not JSON
            raise LogStateError(
                f"the event log {self.path} is damaged ({exc}); run `ra audit verify`"
            ) from None

    def event(self, seq: int) -> RecordedEvent | None:
        row = self.conn.execute("SELECT body FROM events WHERE seq = ?", (seq,)).fetchone()
        return None if row is None else self._decode(row[0])

    def _decode(self, body: bytes | str) -> RecordedEvent:
        """A stored event, or LogStateError when its body is not one (it was altered)."""
        try:
            return RecordedEvent.from_body(body)
        except (ValueError, KeyError, TypeError, AttributeError):
            raise LogStateError(
                f"an event in {self.path} is damaged (its body is not an ra event); "
                "run `ra audit verify`"
            ) from None

    def leaf_hashes(self, size: int | None = None) -> list[bytes]:
        """The stored leaf hashes of the first `size` events (all by default)."""
        conn = self.conn
        own = not conn.in_transaction
        if own:
            conn.execute("BEGIN")
        try:
            size = self.size() if size is None else min(size, self.size())
            return self._stored_leaves(0, size) if size > 0 else []
        finally:
            if own:
                conn.execute("COMMIT")

    # -- checkpoints ------------------------------------------------------

    @property
    def signing_key(self) -> Ed25519PrivateKey:
        if self._key is None:
            if self._key_path is None:
                raise StoreError("this log has no signing key configured")
            self._key = load_or_create_key(self._key_path)
        return self._key

    def checkpoint(self, *, now: datetime | None = None) -> Checkpoint:
        """Sign the current tree head and store the checkpoint in the log."""
        key = self.signing_key
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise StoreError(f"the event log is busy or unwritable: {exc}") from None
        try:
            frontier = self._frontier_at(self.size())
            unsigned = Checkpoint(
                origin=self.log_origin,
                tree_size=frontier.size,
                root=frontier.root() if frontier.size else EMPTY_ROOT,
                time=format_time(now or self._clock()),
                sync_mode=self.sync_mode,
                public_key=public_bytes(key),
            )
            signed = unsigned.sign(key)
            conn.execute(
                "INSERT INTO checkpoints (statement, signature) VALUES (?, ?)",
                (canonical.dumps(signed.statement()), signed.signature),
            )
            self._save_tree_state(frontier)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return signed

    def checkpoints(self) -> list[Checkpoint]:
        rows = self.conn.execute("SELECT statement, signature FROM checkpoints ORDER BY id")
        return [
            Checkpoint.from_statement(canonical.loads(text), bytes(sig)) for text, sig in rows
        ]

    def missing_triggers(self) -> list[str]:
        present = {name for (name,) in self.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
        return [name for name in TRIGGERS if name not in present]

    def schema_problems(self) -> list[str]:
        """What was removed from or changed in the schema ra made (for `verify`)."""
        problems = []
        missing = self.missing_triggers()
        if missing:
            problems.append("the append-only triggers were removed: " + ", ".join(missing))
        if not self.conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'events_spans'"
        ).fetchone():
            problems.append("the stream index events_spans was removed")
        row = self.conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'view' AND name = 'audit_log'"
        ).fetchone()
        made = AUDIT_VIEW.replace("CREATE VIEW IF NOT EXISTS", "CREATE VIEW")
        if row is None or " ".join(str(row[0]).split()) != " ".join(made.split()):
            problems.append("the audit_log view was removed or redefined (reports read it)")
        return problems


def _create_private(path: Path) -> None:
    """Create the database file 0600 before SQLite does (it would make it 0644).

    SQLite gives the ``-wal`` and ``-shm`` files the database file's mode, so
    they are 0600 too, whatever the umask.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        if path.is_dir():
            raise IsADirectoryError(errno.EISDIR, "it is a folder") from None
        if not os.access(path, os.R_OK | os.W_OK):
            raise PermissionError(errno.EACCES, "permission denied") from None
        return
    try:
        os.fchmod(fd, 0o600)  # exactly 0600, whatever the umask took away
    finally:
        os.close(fd)


def _statements(script: str) -> Iterator[str]:
    """Split the schema into statements (triggers contain inner semicolons)."""
    buffer = ""
    for line in script.strip().splitlines():
        buffer += line + "\n"
        if sqlite3.complete_statement(buffer):
            yield buffer.strip()
            buffer = ""
