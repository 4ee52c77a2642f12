"""Latest-wins pacing of screen updates (sans-IO: time is always an argument).

The sender loop around a `Pacer` is::

    if now >= pacer.next_capture_at(now):
        update = encoder.encode(screen.grab(), quality=pacer.quality, ...)
        pacer.offer(update, now)
    update = pacer.poll(now)          # None while the link is busy
    if update: start writing update.to_bytes(); when written: pacer.on_sent(n, now)
    on each acknowledgement from the viewer: pacer.on_ack(seq, now)

There is never a queue. The pacer holds at most one pending update; an update
offered while another is pending is merged into it: tiles of the pending update
that the new one covers completely are dropped (their pixels are stale), the
others are kept before the new tiles (applied in that order they give exactly
the newest screen). The link is busy while a write is in progress or while
``max_unacked`` updates are unacknowledged, so kernel buffers cannot hide a
backlog either.

Adaptation (AIMD, like TCP's congestion window):

* every send time (poll -> on_sent) and every round trip (poll -> on_ack) feeds
  an exponentially weighted average;
* an ack whose round trip exceeds ``target_latency``, or a send slower than
  the capture interval, cuts quality by ``quality_step_down`` (multiplicative: x0.8)
  and doubles the capture interval (fewer frames per second);
* an ack within the target raises quality by ``quality_step_up`` and shortens
  the interval by 10%, within [min_quality, max_quality] and
  [min_interval, max_interval].
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ra.desktop.codec import Tile, Update


class Pacer:
    def __init__(
        self,
        *,
        min_interval: float = 1 / 30,
        max_interval: float = 0.5,
        min_quality: int = 30,
        max_quality: int = 80,
        initial_quality: int = 70,
        target_latency: float = 0.15,
        max_unacked: int = 2,
        quality_step_up: int = 2,
        quality_step_down: float = 0.8,
        smoothing: float = 0.3,
    ) -> None:
        if not 0 < min_interval <= max_interval:
            raise ValueError("need 0 < min_interval <= max_interval")
        if not 1 <= min_quality <= initial_quality <= max_quality <= 100:
            raise ValueError("need 1 <= min_quality <= initial_quality <= max_quality <= 100")
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.min_quality = min_quality
        self.max_quality = max_quality
        self.target_latency = target_latency
        self.max_unacked = max_unacked
        self.quality_step_up = quality_step_up
        self.quality_step_down = quality_step_down
        self.smoothing = smoothing
        self._quality = float(initial_quality)
        self.interval = min_interval
        """Seconds between captures now (1 / frame rate)."""
        self.pending: Update | None = None
        self.merged = 0
        """How many offered updates were merged into a pending one (not sent on their own)."""
        self.send_time: float | None = None
        """Smoothed seconds from poll to on_sent."""
        self.latency: float | None = None
        """Smoothed seconds from poll to on_ack."""
        self.bytes_sent = 0
        self._sending: tuple[int, float] | None = None  # (seq, started) of the write in progress
        self._unacked: dict[int, float] = {}  # seq -> poll time
        self._last_capture: float | None = None

    # --- state -------------------------------------------------------------------------

    @property
    def quality(self) -> int:
        """The JPEG quality to encode the next frame with."""
        return round(self._quality)

    @property
    def fps(self) -> float:
        return 1.0 / self.interval

    @property
    def busy(self) -> bool:
        """A write is in progress, or too many updates wait for their acknowledgement."""
        return self._sending is not None or len(self._unacked) >= self.max_unacked

    def next_capture_at(self, now: float) -> float:
        """When to grab and encode the next frame (``<= now``: capture now)."""
        if self._last_capture is None:
            return now
        due = self._last_capture + self.interval
        if self.pending is not None and self._sending is not None and self.send_time is not None:
            # Something is already waiting: a capture before the link frees up would only
            # be merged into it. Wait for the expected end of the current write instead.
            due = max(due, self._sending[1] + self.send_time)
        return due

    # --- inputs ------------------------------------------------------------------------

    def offer(self, update: Update, now: float) -> None:
        """A freshly encoded update; merged into the pending one if there is one."""
        self._last_capture = now
        if self.pending is None:
            self.pending = update
        else:
            self.pending = merge_updates(self.pending, update)
            self.merged += 1

    def idle(self, now: float) -> None:
        """A capture found nothing changed: pace the next one, send nothing."""
        self._last_capture = now

    def poll(self, now: float) -> Update | None:
        """The update to write now, or None (nothing pending, or the link is busy)."""
        if self.pending is None or self.busy:
            return None
        update, self.pending = self.pending, None
        self._sending = (update.seq, now)
        self._unacked[update.seq] = now
        return update

    def on_sent(self, nbytes: int, now: float) -> None:
        """The update returned by the last `poll` has been written completely."""
        if self._sending is None:
            return
        _seq, started = self._sending
        self._sending = None
        self.bytes_sent += nbytes
        took = max(0.0, now - started)
        self.send_time = self._average(self.send_time, took)
        if took > max(self.interval, self.target_latency):
            self._slow_down()

    def on_ack(self, seq: int, now: float) -> None:
        """The viewer has applied update `seq` (acks for older updates are implied)."""
        sent_at = self._unacked.get(seq)
        if sent_at is None:
            return  # unknown or already acknowledged
        for older in [s for s in self._unacked if _seq_not_after(s, seq)]:
            del self._unacked[older]
        rtt = max(0.0, now - sent_at)
        self.latency = self._average(self.latency, rtt)
        if rtt > self.target_latency:
            self._slow_down()
        else:
            self._speed_up()

    # --- adaptation ----------------------------------------------------------------------

    def _average(self, old: float | None, sample: float) -> float:
        return sample if old is None else old + self.smoothing * (sample - old)

    def _slow_down(self) -> None:
        self._quality = max(float(self.min_quality), self._quality * self.quality_step_down)
        self.interval = min(self.max_interval, self.interval * 2)

    def _speed_up(self) -> None:
        self._quality = min(float(self.max_quality), self._quality + self.quality_step_up)
        self.interval = max(self.min_interval, self.interval * 0.9)


def _seq_not_after(a: int, b: int) -> bool:
    """a <= b for 32-bit sequence numbers that wrap (serial number arithmetic)."""
    return ((b - a) & 0xFFFFFFFF) < 0x80000000


def merge_updates(older: Update, newer: Update) -> Update:
    """One update equivalent to applying `older` then `newer`, without `older`'s stale tiles."""
    if (older.width, older.height) != (newer.width, newer.height):
        return newer  # the screen changed size: the newer update is a keyframe of its own
    kept = [t for t in older.tiles if not _covered(t, newer.tiles)]
    return replace(
        newer,
        tiles=(*kept, *newer.tiles),
        keyframe=older.keyframe or newer.keyframe,
    )


def _covered(tile: Tile, by: tuple[Tile, ...]) -> bool:
    """Is every pixel of `tile` inside the union of the rectangles `by`?"""
    x0, y0, x1, y1 = tile.x, tile.y, tile.x + tile.w, tile.y + tile.h
    hits = [
        (max(x0, t.x), max(y0, t.y), min(x1, t.x + t.w), min(y1, t.y + t.h))
        for t in by
        if t.x < x1 and t.x + t.w > x0 and t.y < y1 and t.y + t.h > y0
    ]
    if not hits:
        return False
    if any(h == (x0, y0, x1, y1) for h in hits):
        return True
    # Coordinate compression: mark the covered cells of the grid made by the edges.
    xs = sorted({x0, x1, *(h[0] for h in hits), *(h[2] for h in hits)})
    ys = sorted({y0, y1, *(h[1] for h in hits), *(h[3] for h in hits)})
    grid = np.zeros((len(ys) - 1, len(xs) - 1), dtype=bool)
    for hx0, hy0, hx1, hy1 in hits:
        grid[ys.index(hy0) : ys.index(hy1), xs.index(hx0) : xs.index(hx1)] = True
    return bool(grid.all())
