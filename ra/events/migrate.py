"""Bring a log written by an older ra up to this schema, losing nothing.

Schema 1 kept each event's leaf hash, stream, version and type in columns
beside its body, a unique index on (stream, stream_version) and the audit
fields as generated columns. Schema 2 added ``span_last`` on the first event
of each append and offered the fields as the ``audit_log`` view. Schema 3
(`ra.events.store`) keeps the body alone on each event; the first event of
each append carries the append's span: its stream, the stream's version
after it and the leaf hashes of its events. The events themselves do not
change: every body, leaf hash and seq is copied as it is, so the Merkle
tree, every stored checkpoint and every checkpoint file kept elsewhere stay
valid.

`migrate` writes the new log next to the old one while holding the old one's
write lock, groups the events into spans (schema 2's own; for schema 1, runs
of one stream's consecutive versions in consecutive seqs, as an append would
have written them), copies the meta records (so the log keeps its id), the
checkpoints and the tree state, and then runs `verify_log` on the result.
Only a log that verifies replaces the old file, and the old file is kept
beside it as ``<name>.schema<N>.bak``. A log that does not verify is left
exactly as it was; the partly written copy is removed.

Other ra processes must be stopped first: the swap cannot move their open
files. `migrate` checks afterwards that nobody appended to the old file while
it ran and says so if someone did.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ra.errors import RaError
from ra.events.store import SCHEMA_VERSION, EventStore, insert_events
from ra.events.verify import verify_log
from ra.home import Home

#: The longest span a migration writes (it holds one span's rows in memory).
MAX_SPAN = 65_536
_OLD_SCHEMAS = {"1", "2"}


class MigrationError(RaError):
    """The log could not be migrated; the old file is untouched."""

    exit_code = 1


class NoLogError(MigrationError):
    """There is no log to migrate where one was looked for, or it cannot be opened."""

    exit_code = 2


@dataclass(frozen=True)
class MigrationReport:
    database: Path
    from_schema: int
    to_schema: int
    events: int = 0
    spans: int = 0
    checkpoints: int = 0
    root: str = ""
    backup: Path | None = None

    @property
    def migrated(self) -> bool:
        return self.from_schema != self.to_schema


def migrate(
    home: Home, *, progress: Callable[[int, int], None] | None = None
) -> MigrationReport:
    """Migrate the log of `home` to this schema (see the module docstring)."""
    database = home.database
    if home.root.exists() or home.root.is_symlink():
        home.ensure()  # a home that is not a folder, or not ours, says so
    if not database.exists():
        raise NoLogError(f"there is no log at {database}")
    try:
        old = sqlite3.connect(str(database), timeout=30.0, isolation_level=None)
    except sqlite3.DatabaseError as exc:
        raise NoLogError(f"cannot open the event log {database}: {exc}") from None
    try:
        try:
            old.execute("BEGIN IMMEDIATE")  # no appends to the old log while it is copied
            row = old.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise NoLogError(f"{database} is not an ra log ({exc})") from None
        version = None if row is None else str(row[0])
        if version == str(SCHEMA_VERSION):
            return MigrationReport(database, SCHEMA_VERSION, SCHEMA_VERSION)
        if version not in _OLD_SCHEMAS:
            raise MigrationError(
                f"{database} is log schema {version}; this ra migrates schema "
                f"{', '.join(sorted(_OLD_SCHEMAS))} to {SCHEMA_VERSION}"
            )
        count = int(old.execute("SELECT count(*) FROM events").fetchone()[0])
        target = database.with_name(database.name + ".migrating")
        _remove_database(target)
        try:
            spans = _copy(old, target, home, count, int(version), progress)
            report = _verify(target, home, database, int(version), count, spans)
        except BaseException:
            _remove_database(target)
            raise
        old.execute("COMMIT")
        # Fold the old WAL into the file, so the backup is that one file.
        busy = old.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        after = int(old.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        old.close()
    if busy or after != count:
        _remove_database(target)
        raise MigrationError(
            f"{database} is in use by another process (it "
            + (f"appended {after - count} events" if after != count else "holds a read")
            + " while the log was migrated); stop every ra process and run it again"
        )
    backup = database.with_name(f"{database.name}.schema{version}.bak")
    if backup.exists():
        _remove_database(target)
        raise MigrationError(f"{backup} is in the way; move it elsewhere first")
    try:
        os.link(database, backup)  # the old log stays reachable under its new name
    except OSError:
        os.replace(database, backup)  # no hard links here: a moment without ra.db
    os.replace(target, database)
    for suffix in ("-wal", "-shm"):
        Path(f"{database}{suffix}").unlink(missing_ok=True)
    return MigrationReport(
        database, report.from_schema, report.to_schema, report.events, report.spans,
        report.checkpoints, report.root, backup,
    )


def _copy(
    old: sqlite3.Connection,
    target: Path,
    home: Home,
    count: int,
    version: int,
    progress: Callable[[int, int], None] | None,
) -> int:
    """Write the new log at `target`; returns how many spans it made."""
    with EventStore(target, key_path=home.log_key) as new:
        conn = new.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("DELETE FROM meta")
            conn.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [(key, value) for key, value in old.execute("SELECT key, value FROM meta")
                 if key != "schema_version"] + [("schema_version", str(SCHEMA_VERSION))],
            )
            spans = _copy_events(old, conn, count, version, progress)
            conn.executemany(
                "INSERT INTO checkpoints (id, statement, signature) VALUES (?, ?, ?)",
                old.execute("SELECT id, statement, signature FROM checkpoints ORDER BY id"),
            )
            state = old.execute("SELECT size, frontier FROM tree_state WHERE id = 1").fetchone()
            if state is not None:
                conn.execute("UPDATE tree_state SET size = ?, frontier = ? WHERE id = 1", state)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return spans


def _copy_events(
    old: sqlite3.Connection,
    new: sqlite3.Connection,
    count: int,
    version: int,
    progress: Callable[[int, int], None] | None,
) -> int:
    """Copy every event as it is, the first of each span carrying the span."""
    spans = 0
    run: list[tuple[int, str, bytes, str, int]] = []

    def flush() -> None:
        nonlocal spans
        if run:
            seq, body, _leaf, stream, _version = run[0]
            new.execute(insert_events(1), (seq, body, stream, run[-1][4],
                                           b"".join(bytes(row[2]) for row in run)))
            new.executemany(insert_events(1, span=False), [row[:2] for row in run[1:]])
            spans += 1
            run.clear()

    marks = ", span_last IS NOT NULL" if version >= 2 else ", 0"
    cursor = old.execute(
        f"SELECT seq, body, leaf, stream, stream_version{marks} FROM events ORDER BY seq")
    done = 0
    while True:
        rows = cursor.fetchmany(20_000)
        if not rows:
            break
        for *row, starts in rows:
            if run:
                last = run[-1]
                if (starts or row[0] != last[0] + 1 or row[3] != last[3]
                        or row[4] != last[4] + 1 or len(run) >= MAX_SPAN):
                    flush()
            run.append(tuple(row))
        done += len(rows)
        if progress is not None:
            progress(done, count)
    flush()
    return spans


def _verify(target: Path, home: Home, database: Path, version: int, count: int,
            spans: int) -> MigrationReport:
    with EventStore(target, key_path=home.log_key) as new:
        report = verify_log(new)
        if not report.ok:
            raise MigrationError(
                f"{database} does not verify, so it was not migrated "
                f"({report.first_problem}); it is unchanged"
            )
        checkpoints = report.checkpoints_checked
    return MigrationReport(database, version, SCHEMA_VERSION, count, spans, checkpoints,
                           report.root.hex())


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
