"""The tamper-evident event log: events, the SQLite store, Merkle tree, checkpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ra.lazy import lazy_names

if TYPE_CHECKING:  # what the names are, for the type checker
    from ra.events.checkpoint import (
        Checkpoint,
        CheckpointError,
        KeyFileError,
    )
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
    from ra.events.store import (
        EventStore,
    )
    from ra.events.verify import (
        Problem,
        VerifyReport,
        verify_log,
    )

# Each name is imported from its module on first use (`ra.lazy`): `ra --help` loads
# none of the store, Merkle and verify modules.
__getattr__ = lazy_names(globals(), {
    "ra.events.checkpoint": ("Checkpoint", "CheckpointError", "KeyFileError"),
    "ra.events.errors": ("AppendError", "ConcurrencyError", "LogStateError", "StoreError"),
    "ra.events.model": ("SYSTEM", "Actor", "EventError", "NewEvent", "Outcome", "RecordedEvent"),
    "ra.events.store": ("EventStore",),
    "ra.events.verify": ("Problem", "VerifyReport", "verify_log"),
})
