"""eventsourcing used as its users use it: an `Application` saving `Aggregate`s.

`bench store`'s ``es_save`` system. Each workload stream is one aggregate; its
first row is the aggregate's creation event, every later row one `happened`
event carrying the same type, actor, origin, outcome and payload as ra's
`NewEvent`. The events are triggered on the aggregates outside the clock (the
domain code's part, as building ra's `NewEvent`s is); `Application.save`,
inside it, collects them, maps them to stored events and records them with the
same `SQLiteApplicationRecorder` as ``es`` and ``es_app``.

Imported only by the worker that measures ``es_save`` (it imports
eventsourcing at the top).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event
from eventsourcing.persistence import InfrastructureFactory


class Stream(Aggregate):
    """One workload stream; each event holds a row's fields."""

    @event("Logged")
    def __init__(self, type: str, actor: dict[str, str], origin: str, outcome: str,
                 payload: dict[str, Any]) -> None:
        pass

    @event("Happened")
    def happened(self, type: str, actor: dict[str, str], origin: str, outcome: str,
                 payload: dict[str, Any]) -> None:
        pass


def full_sync(pool: Any) -> None:
    """Make every connection an eventsourcing SQLite pool opens run synchronous=FULL.

    eventsourcing turns WAL on itself but leaves `synchronous` at the build's
    default; `bench.store._es_pragmas` reads both back after the workload.
    """
    create = pool._create_connection

    def create_full_sync() -> Any:
        connection = create()
        connection._sqlite_conn.execute("PRAGMA synchronous=FULL")
        return connection

    pool._create_connection = create_full_sync


class FullSyncApplication(Application[Any]):
    """An Application on SQLite whose every connection runs synchronous=FULL
    (its pool is set up before the recorder opens its first connection)."""

    def construct_factory(self, env: Any) -> InfrastructureFactory:
        factory = super().construct_factory(env)
        full_sync(factory.datastore.pool)  # type: ignore[attr-defined]
        return factory


def open_application(path: Path) -> tuple[FullSyncApplication, Any]:
    """The application on a new SQLite file at `path`, and its datastore."""
    app = FullSyncApplication(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite",
                                   "SQLITE_DBNAME": str(path)})
    return app, app.factory.datastore  # type: ignore[attr-defined]


def trigger(aggregates: dict[str, Stream], chunk: list[list[str]], origin: str) -> Stream:
    """Trigger a chunk's events (one stream, consecutive versions) on its aggregate."""
    aggregate: Stream | None = None
    for row in chunk:
        stream, version = row[0], int(row[1])
        fields = {"type": row[2], "actor": {"kind": row[3], "id": row[4]}, "origin": origin,
                  "outcome": "success", "payload": json.loads(row[5])}
        aggregate = aggregates.get(stream)
        if aggregate is None:
            aggregate = aggregates[stream] = Stream(**fields)
        else:
            aggregate.happened(**fields)
        if aggregate.version != version:
            raise AssertionError(f"{stream}: aggregate at version {aggregate.version}, "
                                 f"the workload's row is {version}")
    assert aggregate is not None, "an empty chunk"
    return aggregate
