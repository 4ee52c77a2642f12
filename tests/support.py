"""Small helpers shared by tests (importable as `support`)."""

from __future__ import annotations

from ra.events import Actor, EventStore, NewEvent

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
