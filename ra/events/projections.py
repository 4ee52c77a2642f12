"""Projections: state as a fold over events.

A projection says which event types it wants and how each one changes its
state. `rebuild` reads the log once, in seq order, and feeds every wanted
event to every projection that wants it; nothing but the log is needed to
rebuild any state, at any time. Machines are never built per row here: the
`transitions` machines decide live moves; replay only folds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from ra.events.model import RecordedEvent
from ra.events.store import EventStore


class Projection(Protocol):
    #: The event types this projection folds (``None``: all of them).
    types: frozenset[str] | None

    def apply(self, event: RecordedEvent) -> None: ...


def rebuild(
    store: EventStore,
    projections: Iterable[Projection],
    *,
    progress: Callable[[int], None] | None = None,
    every: int = 100_000,
) -> int:
    """Fold the whole log into `projections`; returns how many events were read."""
    chosen = list(projections)
    wanted: set[str] | None = set()
    for projection in chosen:
        if projection.types is None or wanted is None:
            wanted = None
        else:
            wanted |= projection.types
    count = 0
    types = None if wanted is None else sorted(wanted)
    for event in store.iter_events(types=types):
        for projection in chosen:
            if projection.types is None or event.type in projection.types:
                projection.apply(event)
        count += 1
        if progress is not None and count % every == 0:
            progress(count)
    return count


@dataclass
class StreamState:
    version: int = 0
    events: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    last_type: str = ""


@dataclass
class StreamSummary:
    """Every stream's version, first and last time, and last event type."""

    types: frozenset[str] | None = None
    streams: dict[str, StreamState] = field(default_factory=dict)

    def apply(self, event: RecordedEvent) -> None:
        state = self.streams.get(event.stream)
        if state is None:
            state = self.streams[event.stream] = StreamState(first_at=event.occurred_at)
        state.version = event.stream_version
        state.events += 1
        state.last_at = event.occurred_at
        state.last_type = event.type
