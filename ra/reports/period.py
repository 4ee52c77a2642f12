"""The period a report covers: from `since` (included) until `until` (excluded).

A missing bound leaves that side open. `ra audit sessions` keeps the sessions
that went on at some time in the period (`overlaps`); the HTML report the
sessions that began in it and the failed passwords that happened in it
(`holds`). The bounds are datetimes as the command line gives them, or the
log's own UTC text (`text`, see `ra.events.model.format_time`), so that a
report reading many events compares their times as the log wrote them,
without parsing each one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from ra.events.model import format_time

T = TypeVar("T", datetime, str)


@dataclass(frozen=True, slots=True)
class Period(Generic[T]):
    since: T | None = None
    until: T | None = None

    def overlaps(self, start: T, end: T) -> bool:
        """Whether the time from `start` to `end` (both included) meets the period."""
        return ((self.since is None or end >= self.since)
                and (self.until is None or start < self.until))

    def holds(self, when: T) -> bool:
        """Whether the moment `when` lies in the period."""
        return self.overlaps(when, when)

    def text(self: Period[datetime]) -> Period[str]:
        """The same period in the log's UTC text."""
        return Period(None if self.since is None else format_time(self.since),
                      None if self.until is None else format_time(self.until))
