"""The tamper-evident event log: events, the SQLite store, Merkle tree, checkpoints."""

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
