"""Checking events against audit/schema/ (importable as `schema_support`).

`EventSchemas` validates an event body against the schema of its type (which
refers to the envelope). `LogWatch` follows every ra.db under a folder and
validates the events appended since it last looked; conftest.py runs it after
each test over the session's temporary folders, so every event the suite
writes is checked, and a type without a schema fails.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from ra.events.docs import SCHEMA_DIR, load

#: What a log file is called.
DATABASE = "ra.db"


class EventSchemas:
    def __init__(self, folder: Path = SCHEMA_DIR) -> None:
        envelope, self.types = load(folder)
        resources = [(envelope["$id"], Resource.from_contents(envelope))]
        resources += [(s["$id"], Resource.from_contents(s)) for s in self.types.values()]
        registry: Registry[Any] = Registry().with_resources(resources)
        Draft202012Validator.check_schema(envelope)
        self.validators = {}
        for name, schema in self.types.items():
            Draft202012Validator.check_schema(schema)
            self.validators[name] = Draft202012Validator(schema, registry=registry)

    def problems(self, event: Any) -> list[str]:
        """What is wrong with `event` (a decoded body); [] if it matches its type's schema."""
        kind = event.get("type") if isinstance(event, dict) else None
        validator = self.validators.get(kind) if isinstance(kind, str) else None
        if validator is None:
            return [f"no schema for event type {kind!r} (add audit/schema/events/{kind}.json)"]
        return [f"{'/'.join(map(str, error.absolute_path)) or '(event)'}: {error.message}"
                for error in validator.iter_errors(event)]


@dataclass
class LogWatch:
    """Every ra.db under `root`, and how far each was checked (by seq)."""

    root: Path
    schemas: EventSchemas
    checked: dict[Path, int] = field(default_factory=dict)
    seen: dict[Path, tuple[int, ...]] = field(default_factory=dict)

    def databases(self) -> Iterator[Path]:
        for folder, _dirs, files in os.walk(self.root):
            if DATABASE in files:
                yield Path(folder) / DATABASE

    def new_problems(self, *, skip: bool = False) -> list[str]:
        """Check the events appended since the last look (`skip`: only move past them)."""
        found: list[str] = []
        for database in self.databases():
            stamp = self._stamp(database)
            if stamp is None or self.seen.get(database) == stamp:
                continue
            after = self.checked.get(database, -1)
            try:
                rows = self._read(database, after)
            except sqlite3.Error:
                continue  # not (or no longer) a log: damaged on purpose, or half made
            self.seen[database] = stamp
            if not rows:
                continue
            self.checked[database] = rows[-1][0]
            if skip:
                continue
            for seq, body in rows:
                try:
                    event = json.loads(body)
                except (ValueError, UnicodeDecodeError):
                    found.append(f"{database} seq {seq}: the body is not JSON")
                    continue
                found += [f"{database} seq {seq} {event.get('type')}: {problem}"
                          for problem in self.schemas.problems(event)]
        return found

    @staticmethod
    def _stamp(database: Path) -> tuple[int, ...] | None:
        stamp: list[int] = []
        for path in (database, database.with_name(DATABASE + "-wal")):
            try:
                info = path.stat()
            except OSError:
                stamp += [0, 0]
                continue
            stamp += [info.st_mtime_ns, info.st_size]
        return None if stamp[:2] == [0, 0] else tuple(stamp)

    @staticmethod
    def _read(database: Path, after: int) -> list[tuple[int, bytes]]:
        conn = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            return [(int(seq), bytes(body) if not isinstance(body, str) else body.encode())
                    for seq, body in conn.execute(
                        "SELECT seq, body FROM events WHERE seq > ? ORDER BY seq", (after,))]
        finally:
            conn.close()
