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

**Slices.** A big update is written in *slices* of whole tiles, smallest
first (when no two of its tiles overlap, the order does not change what is
painted; else in its own order), each at most ``slice_time`` seconds of the link long (and at least
``small_bytes``); each slice is an update on the wire with the update's seq.
What is not yet written stays pending and merges like any update, and an
express update goes between two slices: a keystroke waits for the slices in
flight, never for a whole full-screen update. Keyframes are never sliced (a
recording's chunk starts with a whole one). The helper acknowledges each
update it receives, in order, by its seq: an ack for seq acknowledges the
oldest update in flight with that seq and every one before it.

**Bounds.** An update may hold at most ``MAX_TILES`` tiles covering at most
``MAX_SCREENS`` (2) times its screen's area (``ra.desktop.codec``,
docs/screen-protocol.md). A slice keeps them (some of an update's tiles), and
so does the encoder (one screen at most); a merge keeps older tiles that the
newer ones only partly paint over (a change offered while a keyframe waits
covers more than the screen), so merges of merges (a window dragged over a
slow link) can overlap more and more. A merge that would break the bounds is
not made: what waits stays as it is (a screen as it was, never a mix), the
newer update is dropped, and `keyframe_due` asks the sender for a keyframe,
which paints everything (in fewer pixels than a merge that covers more than
the screen); updates that are not keyframes are dropped until it comes.

**Superseded updates.** The helper acknowledges an update once its page has
taken it, and says so when it never will (``shown=False``): the helper
merged it away under a later update that painted over all of it, because
its page was slower than the link. Its bytes crossed the link but showed
nothing, so they count as not delivered, as a loss does to BBR: the
bandwidth below is then what the helper's screen takes, and a page that
cannot keep up slows the captures instead of costing the person's computer
frames that nobody sees.

**The link model** (like BBR's):

* *Bandwidth* is the largest delivery rate seen over ``bw_window`` seconds.
  Each ack gives a sample: the bytes acknowledged since the newest earlier
  ack at least ``sample_time`` (or two round trips, if longer) before it,
  divided by the time between the two. Spanning several acks, a sample is not
  fooled by acks that arrive bunched (an event loop that ran late, a relay
  that delivers in bursts): a rate from one ack to the next read a 20 Mbit/s
  relay as 27 Mbit/s, and a sender believing it queues. Once the pacer has
  nothing to send and is not waiting by choice for its next capture (nothing
  big changed, or the capture is due and not here), updates it sends before
  what was then in flight is delivered are *app-limited*, and so is a sample
  whose span has an ack of one: it only counts if larger than the estimate,
  so neither a quiet screen nor a capture slower than the link makes the
  link look slow.
* *Round-trip time* is the smallest propagation time seen, each the median
  over a phase (see below) of the acks' samples, so that one early ack on a
  busy machine does not set it: an update's poll-to-ack time minus the time
  its own bytes take at the estimated bandwidth (at most half of it: an
  estimate held low by a slow capture must not make the round trip look
  like nothing, and the in-flight cap with it).
  A queue keeps every sample high, so a minimum older than ``rtt_window``
  seconds (and the first, when start-up ends) is measured afresh, as BBR's
  ProbeRTT does: one update alone in flight, whose sample replaces the
  minimum. The *queue delay* is how far the last phase's median lies above
  the minimum: time spent behind earlier bytes. The first update (a whole
  screen) is alone on the link, but is acknowledged before any bandwidth is
  known: most of its round trip is its own bytes' time at the bottleneck (on
  5 Mbit/s, 0.3 s of a 0.4 s round trip), taken out once the first sample of
  a full link gives the bandwidth (at most three quarters of the round trip:
  an estimate too low would take it all).
* The *in-flight cap* is ``cwnd_gain`` x bandwidth x round-trip time bytes
  (x 1 while *draining*: the queue delay is above ``drain_delay`` or half a
  round trip, whichever is longer), plus what the link carries while an ack
  comes late (bandwidth x the spread of the last phase's samples, at most the
  drain threshold; BBR allows so for acks that arrive aggregated), and at
  least the pacing gain x bandwidth x the last phase's median round trip (a
  receiver that acks late for its own reasons, as on a busy machine, keeps
  the rate it has, and probing grows it; the drain phase lowers it; x 1 in
  start-up, whose gain would double a queue every round trip), but
  never fewer than ``min_unacked`` updates (or slices) in flight, so the link
  does not idle for a round trip between updates, nor more than
  ``max_unacked``.
  The link is *busy* while a write is in progress or the cap is reached, so
  kernel socket buffers cannot hide a backlog. A small update (not a slice)
  may go over the byte cap (not over ``max_unacked``): a keystroke never
  waits for a full screen's round trip.
* The *pacing gain* is ``startup_gain`` until the bandwidth stops growing (by
  25 % over three rounds of acks, as BBR leaves its start-up), then cycles
  through phases of ``phase_time`` (or two round trips): 1.25 (probe for
  more), 0.75 (drain what the probe queued), and six at 1.

**Choices made from the model** (once a sample not app-limited, or one over a
full span while big updates are sent, has been taken; before, only updates as
small as typing have been seen, and they are neither paced nor made coarser):

* *Capture times.* The next capture is due ``interval`` after the last one:
  at least ``min_interval``, and as long as the last update takes to cross the
  link at the pacing gain x bandwidth, or x the link's *floor* if higher: the
  largest rate at which one update crossed over the last ``bw_window``
  seconds (its bytes over its round trip). The delivery rate is only what was
  sent, so when a busy machine captures slowly it is the captures' rate; paced
  by it, the next captures would be as slow. An update that is acknowledged
  before its bytes could cross at that rate shows the link is faster, and
  pacing at a rate the link has carried queues nothing. A superseded update
  shows the helper's page, not the link, is the limit: the floor is forgotten
  and not measured again for a phase, so the captures slow to what the page
  takes. While the link is busy or an update
  waits, the capture is timed to finish when what is pending and in flight
  fits under the in-flight cap, so what is sent is as fresh as it can be
  instead of waiting, already captured, for the link.
* *JPEG quality* of photo-like tiles: the byte budget of a frame is
  bandwidth / ``target_fps``. An update larger than the budget lowers quality
  in proportion (at most 30 % at once, floor ``min_quality``); one under 80 %
  of it raises quality by ``quality_step_up`` (ceiling ``max_quality``).
  Text-like tiles never follow it down: the codec encodes them at
  ``TEXT_QUALITY_FLOOR`` or above (``ra.desktop.codec``: JPEG 4:4:4 at
  ``text_quality``, 90 for browsers, or losslessly), whatever the link.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, replace

import numpy as np

from ra.desktop.codec import HEADER, TILE_HEADER, Tile, Update

TEXT_QUALITY_FLOOR = 90
"""Text-like tiles are never encoded below this JPEG quality (the codec's ``text_quality``)."""

PROBE_CYCLE = (1.25, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0)
"""Pacing gains of successive big frames once start-up is over (BBR's ProbeBW)."""


def wire_size(update: Update) -> int:
    """The length of ``update.to_bytes()``, without encoding it."""
    return HEADER.size + sum(TILE_HEADER.size + len(t.data) for t in update.tiles)


@dataclass(frozen=True, slots=True)
class _InFlight:
    seq: int
    size: int
    sent_at: float
    delivered: int  # bytes acknowledged when it was sent (for counting rounds)
    app_limited: bool  # sent while the link was not kept full


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


@dataclass(frozen=True, slots=True)
class PacerSettings:
    """The pacer's tuning: each value is described in the module's docstring above."""

    min_interval: float = 1 / 60
    max_interval: float = 0.5
    min_quality: int = 30
    max_quality: int = 80
    initial_quality: int = 70
    target_fps: float = 24.0
    min_unacked: int = 2
    max_unacked: int = 32
    cwnd_gain: float = 1.5
    startup_gain: float = 2.0
    small_bytes: int = 16 * 1024
    slice_time: float = 0.015
    sample_time: float = 0.25
    phase_time: float = 0.1
    drain_delay: float = 0.01
    bw_window: float = 2.0
    rtt_window: float = 5.0
    quality_step_up: int = 2
    smoothing: float = 0.3

    def __post_init__(self) -> None:
        if not 0 < self.min_interval <= self.max_interval:
            raise ValueError("need 0 < min_interval <= max_interval")
        if not 1 <= self.min_quality <= self.initial_quality <= self.max_quality <= 100:
            raise ValueError("need 1 <= min_quality <= initial_quality <= max_quality <= 100")
        if not 1 <= self.min_unacked <= self.max_unacked:
            raise ValueError("need 1 <= min_unacked <= max_unacked")
        if self.target_fps <= 0 or self.cwnd_gain < 1 or self.startup_gain < 1:
            raise ValueError("need target_fps > 0, cwnd_gain >= 1 and startup_gain >= 1")


class Pacer:
    def __init__(self, settings: PacerSettings | None = None) -> None:
        self.settings = PacerSettings() if settings is None else settings
        """The tuning, fixed for the pacer's life."""
        self._quality = float(self.settings.initial_quality)
        self.pending: Update | None = None
        """The update waiting for the link (later ones merge into it)."""
        self.express: Update | None = None
        """A small update that shares no pixel with `pending`: it is sent first."""
        self.merged = 0
        """How many offered updates were merged into a waiting one (not sent on their own)."""
        self.slices = 0
        """How many slices of bigger updates were written (see Slices above)."""
        self.keyframe_due = False
        """A merge would have broken the bounds of an update (see Bounds above): the next
        update offered must be a keyframe (others are dropped until then)."""
        self.send_time: float | None = None
        """Smoothed seconds from poll to on_sent."""
        self.latency: float | None = None
        """Smoothed seconds from poll to on_ack."""
        self.bytes_sent = 0
        self._bw = _WindowedFilter(self.settings.bw_window, keep_max=True)
        self._floor = _WindowedFilter(self.settings.bw_window, keep_max=True)
        """The link is at least this fast: an update's bytes over its round trip."""
        self._floor_from = 0.0
        self._min_rtt: float | None = None
        self._min_rtt_at = 0.0  # when `_min_rtt` was measured
        self._probe_rtt_at: float | None = None  # measuring the round trip afresh since then
        self._bw_measured = False  # a sample over a full span has been taken
        self._link_limited = False  # a sample of the link, or of big updates, has been taken
        self._flight: collections.deque[_InFlight] = collections.deque()
        self._inflight_bytes = 0
        self._delivered = 0
        self._acks: collections.deque[tuple[float, int]] = collections.deque()
        """(time, bytes delivered by then) of recent acks, for delivery-rate samples."""
        self._idle_at = -1.0  # the last ack of an update sent while app-limited
        self._app_limited_until = 0  # updates sent before this many bytes are delivered
        self._queue_delay = 0.0
        self._ack_spread = 0.0  # how much later than others acks of the last phase came
        self._typical_rtt = 0.0  # the median sample of the last phase
        self._recent: collections.deque[tuple[float, float]] = collections.deque()
        """(time, propagation) of the acks of the last phase, for the queue delay."""
        self._round_delivered = 0  # an ack of an update sent after this many bytes: a round
        self._full_bw = 0.0
        self._full_bw_rounds = 0
        self.startup = True
        """The pacer is still finding the link's bandwidth (pacing gain ``startup_gain``)."""
        self._cycle = 0
        self._phase_at = 0.0  # when the current phase of the cycle began
        self._sending: float | None = None  # when the write in progress was polled
        self._last_capture: float | None = None
        self._last_size = 0  # wire bytes of the last update offered (0 after an idle capture)
        self._capture_time = 0.0  # smoothed seconds a capture (grab + encode) takes
        self._first: tuple[float, int] | None = None
        """(round trip, wire bytes) of the first update, acknowledged before any bandwidth."""

    # --- the model ---------------------------------------------------------------------

    @property
    def bandwidth(self) -> float | None:
        """Estimated bytes per second the link delivers (None before the first ack)."""
        return self._bw.value

    @property
    def min_rtt(self) -> float | None:
        """Estimated round-trip time without queueing or serialisation, seconds."""
        return self._min_rtt

    @property
    def draining(self) -> bool:
        """The queue delay is too long: the in-flight cap is one bandwidth x round trip."""
        return self.min_rtt is not None and self._queue_delay > self._drain_threshold()

    def _drain_threshold(self) -> float:
        return max(self.settings.drain_delay, (self.min_rtt or 0.0) / 2)

    @property
    def pacing_gain(self) -> float:
        if self.startup:
            return self.settings.startup_gain
        return PROBE_CYCLE[self._cycle % len(PROBE_CYCLE)]

    @property
    def cwnd(self) -> float | None:
        """The in-flight cap in bytes (None until bandwidth and round trip are known)."""
        bw, rtt = self.bandwidth, self.min_rtt
        if bw is None or rtt is None:
            return None
        return (1.0 if self.draining else self.settings.cwnd_gain) * bw * rtt

    @property
    def cap(self) -> float | None:
        """The in-flight cap in bytes: `cwnd` and what late acks hold, or ``min_unacked`` slices."""
        cwnd, bw = self.cwnd, self.bandwidth
        if cwnd is None or bw is None:
            return None
        late = min(self._ack_spread, self._drain_threshold())
        # What keeps the link as busy as now at the latency of now (x the gain: probing
        # grows it): a receiver that acks late for its own reasons (a busy machine) is
        # not taken for a queue to drain.
        now_rate = (1.0 if self.startup else self.pacing_gain) * bw * self._typical_rtt
        return max(cwnd + bw * late, self.settings.min_unacked * self._slice_limit(bw), now_rate)

    @property
    def in_flight(self) -> int:
        """Updates written and not yet acknowledged."""
        return len(self._flight)

    # --- state -------------------------------------------------------------------------

    @property
    def quality(self) -> int:
        """The JPEG quality to encode the next frame's photo-like tiles with."""
        return round(self._quality)

    @property
    def interval(self) -> float:
        """Seconds between captures now (1 / frame rate)."""
        bw = self.bandwidth
        if bw is None or self._last_size == 0 or not self._link_limited:
            return self.settings.min_interval
        paced = self._last_size / (max(bw, self._floor.value or 0.0) * self.pacing_gain)
        return min(self.settings.max_interval, max(self.settings.min_interval, paced))

    @property
    def fps(self) -> float:
        return 1.0 / self.interval

    @property
    def busy(self) -> bool:
        """A write is in progress, or what would be written next is over the in-flight cap."""
        if self._sending is not None:
            return True
        if self.express is not None:
            return not self._room(wire_size(self.express), whole=True)
        if self.pending is None:
            return not self._room(0, whole=False)
        first, rest = self._slice(self.pending)
        return not self._room(wire_size(first), whole=rest is None)

    def _room(self, size: int, *, whole: bool) -> bool:
        """May an update (`whole`: not a slice) of `size` wire bytes be written now?"""
        n = len(self._flight)
        if n >= self.settings.max_unacked:
            return False
        if whole and size <= self.settings.small_bytes:
            return True  # small updates pass the byte cap
        if self._probe_rtt_at is not None:
            return n == 0  # one update alone in flight: its round trip has no queue in it
        if n < self.settings.min_unacked:
            return True
        cap = self.cap
        return cap is not None and self._inflight_bytes + size <= cap

    def next_capture_at(self, now: float) -> float:
        """When to grab and encode the next frame (``<= now``: capture now)."""
        if self._last_capture is None:
            return now
        due = self._last_capture + self.interval
        bw, cap = self.bandwidth, self.cap
        if (self.pending is not None or self.busy) and bw is not None and cap is not None:
            # Captured now, a frame would only wait (or merge): time it to be ready
            # when the link has taken what is pending and has room for more.
            sizes = [f.size for f in self._flight]
            newest = sizes[len(sizes) - self.settings.min_unacked + 1:]
            allowed = max(cap, sum(newest))
            waiting: float = self._inflight_bytes
            if self.pending is not None:  # its last slice must be written, not merged away
                waiting += wire_size(self.pending) + self._slice_limit(bw)
            due = max(due, now + max(0.0, waiting - allowed) / bw - self._capture_time)
        return due

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
        if update.keyframe:
            self.keyframe_due = False
        elif self.keyframe_due:
            return  # the keyframe asked for paints all this would
        waiting = self.pending
        if waiting is None:
            self.pending = update
            return
        self.merged += 1
        if (size <= self.settings.small_bytes and (waiting.width, waiting.height)
                == (update.width, update.height) and not _overlap(update.tiles, waiting.tiles)):
            express = update if self.express is None else merge_updates(self.express, update)
            if express is not None:
                self.express = express
                return
        else:
            merged = merge_updates(waiting, update)
            if merged is not None:
                self.pending = merged
                return
        self.keyframe_due = True  # out of bounds: what waits stays, a keyframe paints the rest

    def idle(self, now: float) -> None:
        """A capture found nothing changed: pace the next one, send nothing."""
        self._last_capture = now
        self._last_size = 0

    def poll(self, now: float) -> Update | None:
        """The update (or slice of one) to write now, or None (nothing waiting, or busy)."""
        if self._sending is not None:
            return None
        express = self.express is not None
        update = self.express if express else self.pending
        if update is None:
            return None
        rest: Update | None = None
        if not express:
            update, rest = self._slice(update)
        size = wire_size(update)
        if not self._room(size, whole=rest is None):
            return None
        if express:
            self.express = None
        else:
            self.pending = rest
            self.slices += rest is not None
        self._sending = now
        self._flight.append(_InFlight(update.seq, size, now, self._delivered,
                                      self._delivered < self._app_limited_until))
        self._inflight_bytes += size
        return update

    def _slice(self, update: Update) -> tuple[Update, Update | None]:
        """The first slice of `update` and the rest (None: it fits in one)."""
        bw = self.bandwidth
        if bw is None or update.keyframe:
            return update, None
        limit = self._slice_limit(bw)
        if wire_size(update) <= limit:
            return update, None
        tiles = update.tiles
        if not _overlapping(tiles):  # any order paints the same: the small changes first
            tiles = tuple(sorted(tiles, key=lambda t: len(t.data)))
        size = HEADER.size
        for i, tile in enumerate(tiles):
            size += TILE_HEADER.size + len(tile.data)
            if size > limit and i > 0:
                return replace(update, tiles=tiles[:i]), replace(update, tiles=tiles[i:])
        return update, None

    def _slice_limit(self, bw: float) -> float:
        return max(self.settings.small_bytes, bw * self.settings.slice_time)

    def on_sent(self, nbytes: int, now: float) -> None:
        """The update returned by the last `poll` has been written completely."""
        if self._sending is None:
            return
        started, self._sending = self._sending, None
        self._check_app_limited(now)
        self.bytes_sent += nbytes
        self.send_time = self._average(self.send_time, max(0.0, now - started))

    def on_ack(self, seq: int, now: float, *, shown: bool = True) -> None:
        """The viewer has taken update `seq` (and so every update written before it);
        `shown`: False if it was painted over before the helper's page got it (see
        Superseded updates above)."""
        acked = next((f for f in self._flight if f.seq == seq), None)
        if acked is None:
            return  # unknown or already acknowledged
        while self._flight:
            old = self._flight.popleft()
            self._inflight_bytes -= old.size
            if old is acked:
                self._delivered += old.size if shown else 0
                break
            self._delivered += old.size
        if acked.app_limited:
            self._idle_at = now
        self._check_app_limited(now)
        rtt = max(0.0, now - acked.sent_at)
        self.latency = self._average(self.latency, rtt)
        if not shown:  # the page is slower than the link: how fast the link is says nothing
            self._floor = _WindowedFilter(self.settings.bw_window, keep_max=True)
            self._floor_from = now + self._phase_time()
        elif rtt > 0 and now >= self._floor_from:
            self._floor.add(acked.size / rtt, now)
        if self._delivered == acked.size:
            self._first = (rtt, acked.size)
        first_estimate = self.bandwidth is None
        link_sample = self._sample_bandwidth(now)
        self._acks.append((now, self._delivered))
        bw = self.bandwidth
        if first_estimate and bw is not None and self._first is not None and link_sample:
            # The first update was alone at the bottleneck, but its bytes' time there
            # was unknown: its round trip, taken whole, is the start-up's minimum. At
            # most three quarters of it go: a first estimate too low would take it all,
            # and a round trip of nothing caps what may be in flight at nothing.
            first_rtt, first_size = self._first
            if self._min_rtt is not None:
                self._min_rtt = min(self._min_rtt,
                                    max(first_rtt - first_size / bw, first_rtt / 4))
        propagation = rtt
        if bw is not None and self._link_limited:
            # At most half: an estimate too low (app-limited) would take it all.
            propagation = max(rtt - acked.size / bw, rtt / 2, 1e-4)
        phase = self._phase_time()
        self._recent.append((now, propagation))
        while self._recent[0][0] < now - phase:
            self._recent.popleft()
        ordered = sorted(p for _t, p in self._recent)
        typical = ordered[len(ordered) // 2]  # a rare early or late ack does not move it
        self._typical_rtt = typical
        probed = self._probe_rtt_at is not None and acked.sent_at >= self._probe_rtt_at
        if probed or self._min_rtt is None or typical <= self._min_rtt:
            self._min_rtt, self._min_rtt_at = (propagation if probed else typical), now
            if probed:
                self._probe_rtt_at = None
        elif self._probe_rtt_at is None and now - self._min_rtt_at > self.settings.rtt_window:
            self._probe_rtt_at = now
        self._queue_delay = max(0.0, typical - self._min_rtt)
        self._ack_spread = ordered[-1] - ordered[0]
        if not self.startup and now - self._phase_at >= phase:
            self._cycle += 1
            self._phase_at = now
        if acked.delivered >= self._round_delivered:  # a round trip of acks is over
            self._round_delivered = self._delivered
            self._end_round(now)

    def _check_app_limited(self, now: float) -> None:
        """Nothing to send, and not by the pacer's choice (the screen gave nothing big, or
        the next capture is due and not here: a capture slower than the link): until what
        is in flight is delivered, the link is not kept full (BBR's rule)."""
        if self.pending is not None or self.express is not None:
            return
        due = self._last_capture is None or now >= self._last_capture + self.interval
        if self._last_size <= self.settings.small_bytes or due:
            self._app_limited_until = self._delivered + self._inflight_bytes + 1

    def _sample_bandwidth(self, now: float) -> bool:
        """A delivery-rate sample over at least ``sample_time`` (and two round trips);
        True if one was taken while the link was kept full (not app-limited)."""
        span = max(self.settings.sample_time, 2 * (self.min_rtt or 0.0))
        while len(self._acks) > 1 and self._acks[1][0] <= now - span:
            self._acks.popleft()  # the newest ack old enough stays first
        if not self._acks:
            return False
        start, delivered = self._acks[0]
        elapsed = now - start
        if elapsed <= 0:
            return False
        full = elapsed >= span
        if not full and self._bw_measured:
            return False  # too short to trust once a full one has been taken
        rate = (self._delivered - delivered) / elapsed
        if rate <= 0:
            return False  # nothing shown (every update superseded): no rate to learn
        app_limited = self._idle_at >= start
        if app_limited and not full:
            return False  # a few small updates over a short span say nothing of the link
        current = self.bandwidth
        if not app_limited or current is None or rate > current:
            self._bw.add(rate, now)
            self._bw_measured = self._bw_measured or full
            self._link_limited = self._link_limited or not app_limited or (
                full and self._last_size > self.settings.small_bytes)
        return not app_limited

    def _phase_time(self) -> float:
        """A phase of the gain cycle: ``phase_time``, or two round trips if longer."""
        return max(self.settings.phase_time, 2 * (self.min_rtt or 0.0))

    def _end_round(self, now: float) -> None:
        """Start-up ends when three rounds in a row raised the estimate by less than 25 %."""
        bw = self.bandwidth
        if not self.startup or bw is None:
            return
        if bw >= 1.25 * self._full_bw:
            self._full_bw, self._full_bw_rounds = bw, 0
            return
        self._full_bw_rounds += 1
        if self._full_bw_rounds >= 3:
            self.startup = False
            self._cycle = 0
            self._phase_at = now
            self._min_rtt_at = -self.settings.rtt_window  # measured in start-up's queue: afresh

    # --- choices -------------------------------------------------------------------------

    def _choose_quality(self, size: int) -> None:
        bw = self.bandwidth
        if bw is None or not self._link_limited:
            return
        settings = self.settings
        budget = bw / settings.target_fps
        if size > budget:
            factor = max(0.7, budget / size)
            self._quality = max(float(settings.min_quality), self._quality * factor)
        elif size < 0.8 * budget:
            raised = self._quality + settings.quality_step_up
            self._quality = min(float(settings.max_quality), raised)

    def _average(self, old: float | None, sample: float) -> float:
        return sample if old is None else old + self.settings.smoothing * (sample - old)


def _overlap(a: tuple[Tile, ...], b: tuple[Tile, ...]) -> bool:
    """Does any rectangle of `a` share a pixel with any of `b`?"""
    return any(s.x < t.x + t.w and t.x < s.x + s.w and s.y < t.y + t.h and t.y < s.y + s.h
               for s in a for t in b)


def _overlapping(tiles: tuple[Tile, ...], cell: int = 64) -> bool:
    """Might two of `tiles` share a pixel? (Counted on a grid of `cell` pixels: tiles
    that are not aligned to it may be taken to overlap, never the other way round.)"""
    if not tiles:
        return False
    width = max(t.x + t.w for t in tiles)
    height = max(t.y + t.h for t in tiles)
    count = np.zeros((-(-height // cell), -(-width // cell)), dtype=np.int32)
    for t in tiles:
        count[t.y // cell : -(-(t.y + t.h) // cell), t.x // cell : -(-(t.x + t.w) // cell)] += 1
    return bool((count > 1).any())


#: The most (older, newer) tile pairs `merge_updates` compares; past it, it keeps every
#: older tile (applied in order they still give the newest screen, in more bytes). A real
#: screen's updates stay under it (a 4K screen is 2,040 cells of 64x64: 4.2 million
#: pairs); a peer's updates of many tiny tiles do not, and must not stall the merge.
MERGE_PAIRS = 1 << 22


def merge_updates(older: Update, newer: Update) -> Update | None:
    """One update equivalent to applying `older` then `newer`, without `older`'s stale tiles;
    None if it would break the bounds of an update (`Update.within_bounds`): then only a
    keyframe can stand for both."""
    if (older.width, older.height) != (newer.width, newer.height):
        return newer  # the screen changed size: the newer update is a keyframe of its own
    if len(older.tiles) * len(newer.tiles) > MERGE_PAIRS:
        kept = list(older.tiles)
    else:
        kept = [t for t in older.tiles if not _covered(t, newer.tiles)]
    merged = replace(
        newer,
        tiles=(*kept, *newer.tiles),
        keyframe=older.keyframe or newer.keyframe,
    )
    return merged if merged.within_bounds() else None


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
    col = {x: i for i, x in enumerate(xs)}
    row = {y: i for i, y in enumerate(ys)}
    grid = np.zeros((len(ys) - 1, len(xs) - 1), dtype=bool)
    for hx0, hy0, hx1, hy1 in hits:
        grid[row[hy0] : row[hy1], col[hx0] : col[hx1]] = True
    return bool(grid.all())
