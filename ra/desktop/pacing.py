"""Latest-wins pacing of screen updates from a model of the link (sans-IO: time is an argument).

The sender loop around a `Pacer` is::

    if now >= pacer.next_capture_at(now):
        update = encoder.encode(screen.grab(), quality=pacer.quality, ...)
        pacer.offer(update, now, capture_time=seconds_the_grab_and_encode_took)
    update = pacer.poll(now)          # None while the link is busy
    if update: start writing update.to_bytes(); when written: pacer.on_sent(n, now)
    on each acknowledgement from the viewer: pacer.on_ack(seq, now)

**Never a queue.** The pacer holds at most one pending update; an update
offered while another is pending is merged into it (`merge_updates`): tiles of
the pending update that the new one covers completely are dropped (their
pixels are stale), the others are kept before the new tiles, and applied in
that order they give exactly the newest screen. One exception keeps small
changes from waiting behind big ones: a *small* update (at most
``small_bytes`` on the wire: typing, a cursor, a clock) whose tiles touch none
of the pending update's goes into an *express* update instead, which is sent
first. Sending it first is safe: no pixel is in both.

**The link model** (like BBR's): every update written is *in flight* until
acknowledged; the helper acknowledges each update in the order it arrives, so
an ack for one update is an ack for every update sent before it.

* *Bandwidth* is the largest delivery rate seen over ``bw_window`` seconds: at
  each ack, the bytes acknowledged since the acked update was sent divided by
  the time since the acknowledgement that came just before it was sent (or
  since it was sent, if nothing was in flight then). A sample taken while the
  sender had nothing to send (the update went onto an empty link) is
  *app-limited*: it only counts if it is larger than the estimate, so a quiet
  screen does not make the link look slow.
* *Round-trip time* is the smallest propagation time seen over ``rtt_window``
  seconds: each update's poll-to-ack time minus the time its own bytes take at
  the estimated bandwidth.
* The *in-flight cap* is ``cwnd_gain`` x bandwidth x round-trip time bytes,
  but never fewer than ``min_unacked`` updates (so the link does not idle
  for a round trip between updates) nor more than ``max_unacked``. The link
  is *busy* while a write is in progress or the cap is reached, so kernel
  socket buffers cannot hide a backlog. A small update may go over the byte
  cap (not over ``max_unacked``): a keystroke never waits for a full screen's
  round trip.

**Choices made from the model:**

* *Capture times.* The next capture is due ``interval`` after the last one:
  at least ``min_interval``, and as long as the last update takes to cross the
  link at ``pacing_gain`` x bandwidth. While the link is busy, the capture is
  timed to finish when the oldest update in flight is expected to be
  acknowledged (from the model), so what is sent is as fresh as it can be
  instead of waiting, already captured, for the link.
* *JPEG quality* (of photo-like tiles; text-like tiles are encoded by the codec
  at ``text_quality``, 90 for browsers, or losslessly, whatever this says): the
  byte budget of a frame is bandwidth / ``target_fps``. An update larger than
  the budget lowers quality in proportion (at most 30 % at once, floor
  ``min_quality``); one under 80 % of it raises quality by ``quality_step_up``
  (ceiling ``max_quality``).
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, replace

import numpy as np

from ra.desktop.codec import HEADER, TILE_HEADER, Tile, Update


def wire_size(update: Update) -> int:
    """The length of ``update.to_bytes()``, without encoding it."""
    return HEADER.size + sum(TILE_HEADER.size + len(t.data) for t in update.tiles)


@dataclass(frozen=True, slots=True)
class _InFlight:
    size: int
    sent_at: float
    delivered: int  # bytes acknowledged when it was sent
    delivered_at: float  # when that count was last raised (or sent_at, on an empty link)
    app_limited: bool  # sent onto an empty link
    expected_ack: float | None  # from the model, when it was sent


class _WindowedFilter:
    """The max (or min) of samples over the last `window` seconds; the newest always counts."""

    def __init__(self, window: float, *, keep_max: bool) -> None:
        self.window = window
        self.keep_max = keep_max
        self._samples: collections.deque[tuple[float, float]] = collections.deque()

    def add(self, value: float, now: float) -> None:
        while self._samples and (value >= self._samples[-1][1] if self.keep_max
                                 else value <= self._samples[-1][1]):
            self._samples.pop()  # a monotonic deque: older and not better never wins again
        self._samples.append((now, value))
        while len(self._samples) > 1 and self._samples[0][0] < now - self.window:
            self._samples.popleft()

    @property
    def value(self) -> float | None:
        return self._samples[0][1] if self._samples else None


class Pacer:
    def __init__(
        self,
        *,
        min_interval: float = 1 / 60,
        max_interval: float = 0.5,
        min_quality: int = 30,
        max_quality: int = 80,
        initial_quality: int = 70,
        target_fps: float = 24.0,
        min_unacked: int = 2,
        max_unacked: int = 16,
        cwnd_gain: float = 2.0,
        pacing_gain: float = 1.25,
        small_bytes: int = 16 * 1024,
        bw_window: float = 10.0,
        rtt_window: float = 10.0,
        quality_step_up: int = 2,
        smoothing: float = 0.3,
    ) -> None:
        if not 0 < min_interval <= max_interval:
            raise ValueError("need 0 < min_interval <= max_interval")
        if not 1 <= min_quality <= initial_quality <= max_quality <= 100:
            raise ValueError("need 1 <= min_quality <= initial_quality <= max_quality <= 100")
        if not 1 <= min_unacked <= max_unacked:
            raise ValueError("need 1 <= min_unacked <= max_unacked")
        if target_fps <= 0 or cwnd_gain < 1 or pacing_gain <= 0:
            raise ValueError("need target_fps > 0, cwnd_gain >= 1 and pacing_gain > 0")
        self.min_interval = min_interval
        self.max_interval = max_interval
        self.min_quality = min_quality
        self.max_quality = max_quality
        self.target_fps = target_fps
        self.min_unacked = min_unacked
        self.max_unacked = max_unacked
        self.cwnd_gain = cwnd_gain
        self.pacing_gain = pacing_gain
        self.small_bytes = small_bytes
        self.quality_step_up = quality_step_up
        self.smoothing = smoothing
        self._quality = float(initial_quality)
        self.pending: Update | None = None
        """The update waiting for the link (later ones merge into it)."""
        self.express: Update | None = None
        """A small update that shares no pixel with `pending`: it is sent first."""
        self.merged = 0
        """How many offered updates were merged into a waiting one (not sent on their own)."""
        self.send_time: float | None = None
        """Smoothed seconds from poll to on_sent."""
        self.latency: float | None = None
        """Smoothed seconds from poll to on_ack."""
        self.bytes_sent = 0
        self._bw = _WindowedFilter(bw_window, keep_max=True)
        self._rtt = _WindowedFilter(rtt_window, keep_max=False)
        self._bw_measured = False  # a sample not app-limited has been taken
        self._flight: collections.OrderedDict[int, _InFlight] = collections.OrderedDict()
        self._inflight_bytes = 0
        self._delivered = 0
        self._delivered_at = 0.0
        self._sending: float | None = None  # when the write in progress was polled
        self._last_capture: float | None = None
        self._last_size = 0  # wire bytes of the last update offered (0 after an idle capture)
        self._capture_time = 0.0  # smoothed seconds a capture (grab + encode) takes

    # --- the model ---------------------------------------------------------------------

    @property
    def bandwidth(self) -> float | None:
        """Estimated bytes per second the link delivers (None before the first ack)."""
        return self._bw.value

    @property
    def min_rtt(self) -> float | None:
        """Estimated round-trip time without queueing or serialisation, seconds."""
        return self._rtt.value

    @property
    def cwnd(self) -> float | None:
        """The in-flight cap in bytes (None until bandwidth and round trip are known)."""
        bw, rtt = self.bandwidth, self.min_rtt
        if bw is None or rtt is None:
            return None
        return self.cwnd_gain * bw * rtt

    @property
    def inflight_bytes(self) -> int:
        return self._inflight_bytes

    @property
    def in_flight(self) -> int:
        """Updates written and not yet acknowledged."""
        return len(self._flight)

    # --- state -------------------------------------------------------------------------

    @property
    def quality(self) -> int:
        """The JPEG quality to encode the next frame with."""
        return round(self._quality)

    @property
    def interval(self) -> float:
        """Seconds between captures now (1 / frame rate)."""
        bw = self.bandwidth
        if bw is None or self._last_size == 0:
            return self.min_interval
        paced = self._last_size / (bw * self.pacing_gain)
        return min(self.max_interval, max(self.min_interval, paced))

    @property
    def fps(self) -> float:
        return 1.0 / self.interval

    @property
    def busy(self) -> bool:
        """A write is in progress, or the in-flight cap is reached."""
        return self._sending is not None or not self._room(None)

    def _room(self, size: int | None) -> bool:
        """May an update of `size` wire bytes (None: any size) be written now?"""
        n = len(self._flight)
        if n >= self.max_unacked:
            return False
        if n < self.min_unacked:
            return True
        if size is not None and size <= self.small_bytes:
            return True  # small updates pass the byte cap
        cwnd = self.cwnd
        return cwnd is not None and self._inflight_bytes < cwnd

    def next_capture_at(self, now: float) -> float:
        """When to grab and encode the next frame (``<= now``: capture now)."""
        if self._last_capture is None:
            return now
        due = self._last_capture + self.interval
        if self.pending is not None or self.busy:
            # Captured now, a frame would only wait (or merge): time it to be ready
            # when the link is expected to take it.
            free = self._expected_free()
            if free is not None:
                due = max(due, free - self._capture_time)
        return due

    def _expected_free(self) -> float | None:
        """When the oldest update in flight should be acknowledged (None: unknown)."""
        for flight in self._flight.values():
            return flight.expected_ack
        return None

    # --- inputs ------------------------------------------------------------------------

    def offer(self, update: Update, now: float, *, capture_time: float | None = None) -> None:
        """A freshly encoded update (captured at `now`); merged into a waiting one if any.

        `capture_time`: how long its grab and encode took (to time the next capture).
        """
        self._last_capture = now
        if capture_time is not None:
            self._capture_time = self._average(self._capture_time, max(0.0, capture_time))
        size = wire_size(update)
        self._last_size = size
        self._choose_quality(size)
        waiting = self.pending
        if waiting is None:
            self.pending = update
            return
        self.merged += 1
        if (size <= self.small_bytes and (waiting.width, waiting.height)
                == (update.width, update.height) and not _overlap(update.tiles, waiting.tiles)):
            self.express = update if self.express is None else merge_updates(self.express,
                                                                              update)
        else:
            self.pending = merge_updates(waiting, update)

    def idle(self, now: float) -> None:
        """A capture found nothing changed: pace the next one, send nothing."""
        self._last_capture = now
        self._last_size = 0

    def poll(self, now: float) -> Update | None:
        """The update to write now, or None (nothing waiting, or the link is busy)."""
        if self._sending is not None:
            return None
        express = self.express is not None
        update = self.express if express else self.pending
        if update is None:
            return None
        size = wire_size(update)
        if not self._room(size):
            return None
        if express:
            self.express = None
        else:
            self.pending = None
        self._sending = now
        expected = None
        bw, rtt = self.bandwidth, self.min_rtt
        if bw is not None and rtt is not None:
            start = now + rtt
            if self._flight:
                last = next(reversed(self._flight.values())).expected_ack
                if last is not None:
                    start = max(start, last)
            expected = start + size / bw
        empty = not self._flight
        if empty:
            self._delivered_at = now
        self._flight[update.seq] = _InFlight(size, now, self._delivered, self._delivered_at,
                                             empty, expected)
        self._inflight_bytes += size
        return update

    def on_sent(self, nbytes: int, now: float) -> None:
        """The update returned by the last `poll` has been written completely."""
        if self._sending is None:
            return
        started, self._sending = self._sending, None
        self.bytes_sent += nbytes
        self.send_time = self._average(self.send_time, max(0.0, now - started))

    def on_ack(self, seq: int, now: float) -> None:
        """The viewer has taken update `seq` (and so every update written before it)."""
        acked = self._flight.get(seq)
        if acked is None:
            return  # unknown or already acknowledged
        while self._flight:
            old_seq, old = self._flight.popitem(last=False)
            self._inflight_bytes -= old.size
            self._delivered += old.size
            if old_seq == seq:
                break
        self._delivered_at = now
        rtt = max(0.0, now - acked.sent_at)
        self.latency = self._average(self.latency, rtt)
        elapsed = now - acked.delivered_at
        if elapsed > 0:
            rate = (self._delivered - acked.delivered) / elapsed
            current = self.bandwidth
            if not acked.app_limited or current is None or rate > current:
                self._bw.add(rate, now)
                self._bw_measured = self._bw_measured or not acked.app_limited
        bw = self.bandwidth
        propagation = rtt
        if self._bw_measured and bw is not None:
            propagation = max(rtt - acked.size / bw, 0.0)
        self._rtt.add(max(propagation, 1e-4), now)

    # --- choices -------------------------------------------------------------------------

    def _choose_quality(self, size: int) -> None:
        bw = self.bandwidth
        if bw is None:
            return
        budget = bw / self.target_fps
        if size > budget:
            factor = max(0.7, budget / size)
            self._quality = max(float(self.min_quality), self._quality * factor)
        elif size < 0.8 * budget:
            self._quality = min(float(self.max_quality), self._quality + self.quality_step_up)

    def _average(self, old: float | None, sample: float) -> float:
        return sample if old is None else old + self.smoothing * (sample - old)


def _overlap(a: tuple[Tile, ...], b: tuple[Tile, ...]) -> bool:
    """Does any rectangle of `a` share a pixel with any of `b`?"""
    return any(s.x < t.x + t.w and t.x < s.x + s.w and s.y < t.y + t.h and t.y < s.y + s.h
               for s in a for t in b)


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
