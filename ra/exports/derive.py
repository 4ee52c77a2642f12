"""From events to rows, and from rows to lines: shared by the export and its check.

An export's rows are what its SQL file (`ra.exports.sql`) returns over a log,
through sqlite-utils, after ``shared.sql`` (`share`) has read the log once into
the temporary tables every export reads and bound the filters; the check runs
the same files over the events a bundle carries (`event_database`) and renders
the rows the same way, so a row in a file is right exactly when its events
make it. Which rows the filters keep is said once, by ``shared.sql``'s view
``export_kept``: an export's file first puts its rows in ``temp.export_rows``,
then reads the kept ones from that view (`run`).

Every row ends with ``seqs``: the seqs of the events it is read from, comma
separated. Rows are written as CSV (a header, then one line a row; a cell a
spreadsheet would run as a formula, one that starts with ``= + - @``, TAB
or CR, is written with a leading ``'``, as OWASP advises, so names a peer
chose stay text) or as JSON lines (one canonical object a row).
"""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ra.events import canonical
from ra.exports import sql as export_sql

#: Cells starting with these are formulas to a spreadsheet.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
FORMATS = ("csv", "jsonl")


@dataclass(frozen=True)
class Filters:
    """What an export was limited to (None: not limited). Times are UTC, as the log writes them."""

    since: str | None = None
    until: str | None = None
    session: str | None = None  # the stream, session:<id>
    person: str | None = None
    helper: str | None = None  # a name or a key fingerprint

    def to_json(self) -> dict[str, str | None]:
        return {"since": self.since, "until": self.until, "session": self.session,
                "person": self.person, "helper": self.helper}

    @classmethod
    def from_json(cls, data: Any) -> Filters:
        fields = ("since", "until", "session", "person", "helper")
        if not isinstance(data, dict) or set(data) != set(fields) or not all(
                data[f] is None or isinstance(data[f], str) for f in fields):
            raise ValueError("the filters are not those of an ra export")
        return cls(**{f: data[f] for f in fields})


def parameters(filters: Filters, size: int | None) -> dict[str, Any]:
    return {"size": size, **filters.to_json()}


#: The SQL every export reads after it (`ra.exports.sql`): it makes their shared tables.
SHARED = "shared"


def _statements(text: str) -> Iterator[str]:
    """The statements of a SQL file, one at a time (as the sqlite3 shell's ``.read``)."""
    pending = ""
    for line in text.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            yield pending
            pending = ""


def share(conn: sqlite3.Connection, size: int | None, filters: Filters) -> None:
    """Run `SHARED` over the log in `conn` (its first `size` events, None: all) with
    `filters`, as an auditor's ``.read shared.sql`` would: one statement at a time,
    so a transaction the caller holds (one snapshot for every export) stays open."""
    for statement in _statements(export_sql(SHARED)):
        conn.execute(statement, parameters(filters, size))


def unshare(conn: sqlite3.Connection) -> None:
    """Drop the temporary tables and view `share` and `run` made (a connection that
    lives on keeps no copy)."""
    for kind, name in conn.execute(
            "SELECT type, name FROM temp.sqlite_master WHERE type IN ('table', 'view') "
            "AND name LIKE 'export\\_%' ESCAPE '\\'").fetchall():
        conn.execute(f'DROP {kind.upper()} temp."{name}"')


def run(conn: sqlite3.Connection, name: str) -> tuple[list[str], Iterator[dict[str, Any]]]:
    """Export `name` over the log in `conn`, after `share`: its columns, and its rows
    through sqlite-utils. Every statement of its file but the last runs here (they
    make ``temp.export_rows``); the last reads the rows the filters keep, and its
    columns are read from it wrapped in ``LIMIT 0`` (none of its steps taken)."""
    import sqlite_utils

    *making, reading = _statements(export_sql(name))
    for statement in making:
        conn.execute(statement)
    statement = reading.rstrip().removesuffix(";")
    cursor = conn.execute(f"SELECT * FROM ({statement}\n) LIMIT 0")
    cols = [d[0] for d in cursor.description or []]
    cursor.close()
    return cols, sqlite_utils.Database(conn).query(reading)


def seqs_of(row: dict[str, Any]) -> list[int]:
    text = row.get("seqs")
    return [int(part) for part in str(text).split(",")] if text else []


def csv_cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def csv_cells(row: dict[str, Any], cols: list[str]) -> list[str]:
    return [csv_cell(row.get(c)) for c in cols]


def csv_line(cells: Iterable[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(list(cells))
    return out.getvalue()


def jsonl_line(row: dict[str, Any]) -> str:
    return canonical.dumps(row) + "\n"


AUDIT_VIEW_COLUMNS = "seq INTEGER PRIMARY KEY, body TEXT NOT NULL"


def event_database(bodies: Iterable[tuple[int, str]]) -> sqlite3.Connection:
    """An in-memory log holding only these events: the ``events`` table and the
    ``audit_log`` view the SQL reads, as the store makes them."""
    from ra.events.store import AUDIT_VIEW

    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute(f"CREATE TABLE events ({AUDIT_VIEW_COLUMNS})")
    conn.execute(AUDIT_VIEW)
    conn.execute("BEGIN")
    conn.executemany("INSERT INTO events (seq, body) VALUES (?, ?)", bodies)
    conn.execute("COMMIT")
    return conn


__all__ = ["FORMATS", "SHARED", "Filters", "csv_cells", "csv_line", "event_database",
           "jsonl_line", "run", "seqs_of", "share", "unshare"]
