"""Errors of the event store, each written for the person who will see it."""

from __future__ import annotations

from ra.errors import InputError


class StoreError(InputError):
    """The event store could not do what was asked."""


class ConcurrencyError(StoreError):
    """Someone else appended to the stream first; nothing was appended.

    Read the stream again, decide again, and retry with the new version.
    """

    exit_code = 3

    def __init__(self, stream: str, expected: int, actual: int) -> None:
        super().__init__(
            f"stream {stream} is at version {actual}, not {expected} as expected: "
            "someone else appended first; nothing was appended"
        )
        self.stream = stream
        self.expected = expected
        self.actual = actual


class AppendError(StoreError):
    """The database refused an append; nothing of it was stored."""


class LogStateError(StoreError):
    """The stored tree state disagrees with the events: the log was altered."""
