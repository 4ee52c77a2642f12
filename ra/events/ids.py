"""Event ids: UUIDv7 (RFC 9562), strictly increasing within this process.

An id is 48 bits of Unix milliseconds, the version (7), 74 random bits and
the variant. The store needs every id it hands out to sort after the last
one, even inside one millisecond and when the clock steps back, and it dates
an append's ids with the same clock reading as the events' ``occurred_at``.
So the first id of a run is drawn as RFC 9562 describes and raised to the
last id + 1 when it would not be past it (method 3, monotonic random); the
rest of the run counts up from it. A library UUIDv7 (``uuid6``,
``uuid-utils``, Python 3.14's ``uuid.uuid7``) makes one UUID object a call;
the store wants a batch's ids as one run of text, dated by the append's one
clock reading and increasing within a millisecond, so these few lines stand
instead of a dependency.

A run's ids differ only in their last group, so a run is handed out as
(text prefix, first low 48 bits): the i-th id is ``f"{prefix}{low + i:012x}"``.
"""

from __future__ import annotations

import os
import threading
import time

_MASK_48 = (1 << 48) - 1
_MASK_61 = (1 << 61) - 1
_lock = threading.Lock()
#: The last id handed out, as a 128-bit number (0: none yet).
_last = 0


def _random80() -> int:
    """80 fresh random bits (a forked child draws its own)."""
    return int.from_bytes(os.urandom(10), "big")


def uuid7_run(count: int, now_ms: int | None = None) -> tuple[str, int]:
    """`count` consecutive UUIDv7s as (text prefix, first low 48 bits).

    `now_ms` is the Unix time in milliseconds to date them with (else the clock).
    """
    global _last
    ms = (time.time_ns() // 1_000_000 if now_ms is None else now_ms) & _MASK_48
    rand = _random80()
    first = ms << 80 | 0x7 << 76 | (rand >> 68) << 64 | 0b10 << 62 | (rand & _MASK_61)
    with _lock:
        if first <= _last:
            first = _last + 1
        if (first & _MASK_48) + count > _MASK_48:  # keep the run inside one last group
            first = (first | _MASK_48) + 1
        _last = first + count - 1
    h = f"{first:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-", first & _MASK_48


def uuid7s(count: int, now_ms: int | None = None) -> list[str]:
    """`count` UUIDv7s, strictly increasing; see `uuid7_run`."""
    prefix, low = uuid7_run(count, now_ms)
    return [f"{prefix}{value:012x}" for value in range(low, low + count)]


def uuid7(now_ms: int | None = None) -> str:
    """One UUIDv7; see `uuid7_run`."""
    return uuid7s(1, now_ms)[0]
