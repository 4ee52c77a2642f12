"""Repeated refusals, counted: at most one event per interval, and no count lost.

A peer that is refused again and again (input sent before consent, a
password tried during the back-off) must leave a trace a security team can
read; but one durable event per refusal lets the peer fill the disk and bury
the log (63,000 fsync'd events in 25 s). A `Tally` counts refusals and says
when to record them:

- the first refusal after a quiet interval is handed out at once, so the log
  shows when the refusals began and a lone refusal reads as it always did;
- the refusals that follow within `interval_s` of the last record are only
  counted, by facet (``kinds``, ``reasons``, ...); once the interval has
  passed, the owner's next `flush(now)` hands them out as one `Counted`
  (call it at `due()`);
- at the end (the session closes, the server stops) `drain()` hands out what
  is left, so the counts recorded always add up to the refusals seen.

`Window` counts what happened in the last `window_s` seconds, for limits such
as "more than 200 refused messages in 10 s"; it keeps at most ``limit + 1``
times, whatever the peer sends.

Sans-IO like the engine: time is the caller's ``now`` (monotonic seconds, or
any clock that does not go back); nothing here reads a clock or writes the log.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Refusals are recorded at most once per this many seconds (per tally).
EVERY_S = 1.0


@dataclass(frozen=True, slots=True)
class Counted:
    """Refusals to record as one event: how many, and how many of each facet value."""

    count: int
    facets: Mapping[str, Mapping[str, int]]

    def payload(self) -> dict[str, Any]:
        """``{"count": N, <facet>: {value: n, ...}, ...}``, values sorted (stable JSON)."""
        payload: dict[str, Any] = {"count": self.count}
        for name, values in self.facets.items():
            payload[name] = dict(sorted(values.items()))
        return payload


class Tally:
    """Counts refusals; hands them out at most once per `interval_s` (see module doc)."""

    def __init__(self, interval_s: float = EVERY_S) -> None:
        if not interval_s > 0:
            raise ValueError("interval_s must be positive")
        self.interval_s = interval_s
        self.total = 0
        """Every refusal noted since the tally was made (recorded or pending)."""
        self._count = 0
        self._facets: dict[str, Counter[str]] = {}
        self._last: float | None = None

    @property
    def pending(self) -> int:
        """Refusals counted but not handed out yet."""
        return self._count

    def note(self, now: float, **facets: str) -> Counted | None:
        """Count one refusal; what to record now (this one and any pending), or None."""
        self._count += 1
        self.total += 1
        for name, value in facets.items():
            self._facets.setdefault(name, Counter())[value] += 1
        return self.flush(now)

    def due(self) -> float | None:
        """When pending refusals may be handed out (None: nothing pending)."""
        if not self._count:
            return None
        return self._last + self.interval_s if self._last is not None else float("-inf")

    def flush(self, now: float) -> Counted | None:
        """The pending refusals if the interval since the last record has passed."""
        if not self._count:
            return None
        if self._last is not None and now - self._last < self.interval_s:
            return None
        self._last = now
        return self._take()

    def quiet(self, now: float) -> bool:
        """Nothing pending and the interval has passed: the tally can be forgotten
        (a new one would hand out its first refusal at once, as this one would)."""
        return not self._count and (self._last is None or now - self._last >= self.interval_s)

    def drain(self) -> Counted | None:
        """The pending refusals, whatever the time (the end: nothing may be lost)."""
        return self._take() if self._count else None

    def _take(self) -> Counted:
        counted = Counted(self._count, {name: dict(values)
                                        for name, values in self._facets.items()})
        self._count = 0
        self._facets = {}
        return counted


class Window:
    """Whether more than `limit` things happened within the last `window_s` seconds."""

    def __init__(self, limit: int, window_s: float) -> None:
        if limit < 0 or not window_s > 0:
            raise ValueError("limit must be >= 0 and window_s positive")
        self.limit = limit
        self.window_s = window_s
        self._times: deque[float] = deque(maxlen=limit + 1)

    def add(self, now: float) -> bool:
        """Note one at `now`; True if that makes more than `limit` in the window."""
        self._times.append(now)
        return len(self._times) > self.limit and now - self._times[0] < self.window_s


__all__ = ["EVERY_S", "Counted", "Tally", "Window"]
