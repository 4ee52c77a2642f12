"""The tamper-evident event log: events, the SQLite store, Merkle tree, checkpoints.

The names below are imported on first use (`__getattr__`), so importing
one submodule loads only what that submodule needs: `ra --help` builds its
command tree without the store, Merkle and verify modules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ra.lazy import lazy_names

if TYPE_CHECKING:
    from ra.events.checkpoint import Checkpoint, CheckpointError, KeyFileError
    from ra.events.errors import (
        AppendError,
        ConcurrencyError,
        LogStateError,
        StoreError,
    )
    from ra.events.model import (
        SYSTEM,
        Actor,
        EventError,
        NewEvent,
        Outcome,
        RecordedEvent,
    )
    from ra.events.store import EventStore
    from ra.events.verify import Problem, VerifyReport, verify_log

_WHERE = {
    "Checkpoint": "ra.events.checkpoint",
    "CheckpointError": "ra.events.checkpoint",
    "KeyFileError": "ra.events.checkpoint",
    "AppendError": "ra.events.errors",
    "ConcurrencyError": "ra.events.errors",
    "LogStateError": "ra.events.errors",
    "StoreError": "ra.events.errors",
    "SYSTEM": "ra.events.model",
    "Actor": "ra.events.model",
    "EventError": "ra.events.model",
    "NewEvent": "ra.events.model",
    "Outcome": "ra.events.model",
    "RecordedEvent": "ra.events.model",
    "EventStore": "ra.events.store",
    "Problem": "ra.events.verify",
    "VerifyReport": "ra.events.verify",
    "verify_log": "ra.events.verify",
}


__getattr__ = lazy_names(globals(), _WHERE)


__all__ = [
    "SYSTEM",
    "Actor",
    "AppendError",
    "Checkpoint",
    "CheckpointError",
    "ConcurrencyError",
    "EventError",
    "EventStore",
    "KeyFileError",
    "LogStateError",
    "NewEvent",
    "Outcome",
    "Problem",
    "RecordedEvent",
    "StoreError",
    "VerifyReport",
    "verify_log",
]
