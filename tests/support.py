"""Small helpers shared by tests (importable as `support`)."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pexpect

from ra.events import Actor, EventStore, NewEvent, merkle
from ra.net import Channel, Kind

PERSON = Actor("person", "alice")
HELPER = Actor("helper", "bob")


def fill(store: EventStore, streams: int = 3, per_stream: int = 4, prefix: str = "s") -> None:
    """Append a small, varied history: `streams` sessions of `per_stream` events."""
    types = ["session.connected", "consent.granted", "control.granted", "control.released"]
    for s in range(streams):
        for v in range(per_stream):
            store.append(f"session:{prefix}{s}", v, [
                NewEvent(types[v % len(types)], {"n": v, "note": f"event {v} of {prefix}{s}"},
                         PERSON if v % 2 else HELPER)
            ])


def tamper(database: Path, *sql: str, params: tuple[object, ...] = ()) -> None:
    """Alter a log as an attacker would: drop the append-only triggers that stand
    in the way, then run `sql` (`params` go to the statements that take any)."""
    db = sqlite3.connect(database)
    db.executescript("DROP TRIGGER IF EXISTS events_refuse_update;"
                     "DROP TRIGGER IF EXISTS events_refuse_delete;"
                     "DROP TRIGGER IF EXISTS checkpoints_refuse_delete;")
    for statement in sql:
        db.execute(statement, params if "?" in statement else ())
    db.commit()
    db.close()


def rehash(db: sqlite3.Connection) -> None:
    """What a careful attacker does after editing events (triggers dropped):
    make each event its own span, with its leaf hash recomputed from its body
    and its stream and version read from it, and rewrite the tree state to
    match, so nothing but a signed checkpoint or receipt can tell."""
    frontier = merkle.Frontier()
    for seq, body in db.execute("SELECT seq, CAST(body AS BLOB) FROM events ORDER BY seq"):
        leaf = merkle.leaf_hash(body)
        db.execute("UPDATE events SET span_stream = json_extract(body, '$.stream'), "
                   "span_last = json_extract(body, '$.stream_version'), span_leaves = ? "
                   "WHERE seq = ?", (leaf, seq))
        frontier.append(leaf)
    db.execute("UPDATE tree_state SET size = ?, frontier = ?",
               (frontier.size, frontier.to_bytes()))


def stop(children: list[pexpect.spawn]) -> None:
    """End every spawned process still running."""
    for child in children:
        if child.isalive():
            child.terminate(force=True)


async def expect_message(channel: Channel, kind: str, timeout: float = 10.0,
                         **fields: Any) -> dict[str, Any]:
    """Read `channel` until a JSON message of type `kind` with these `fields` comes."""
    while True:
        frame = await asyncio.wait_for(channel.recv(), timeout)
        message = frame.message
        if frame.kind is Kind.JSON and message is not None and message.get("type") == kind \
                and all(message.get(key) == value for key, value in fields.items()):
            return message
