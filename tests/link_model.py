"""A simulated link and screen for pacing tests: discrete events, no clock, no sockets.

`run_link` drives a `Pacer` exactly as `ra.session.desktop.X11Desktop` does
(capture on ``next_capture_at``; if the link is busy while an update waits,
wait for an ack, at most 0.25 s; grab and encode take ``capture_time``; then
offer, and write while ``poll`` gives updates) against a one-way path of
``rate`` bytes a second and ``delay`` seconds each way:

* a write is accepted at once (the kernel's socket buffer, in front of the
  bottleneck), then waits its turn at the bottleneck (FIFO), takes
  ``size / rate`` there and arrives ``delay`` later;
* the helper acknowledges each update when it arrives; the ack takes
  ``delay`` to come back (acks are small: no queue);
* with ``jitter``, as through ``bench link``'s user-space relay on a loaded
  machine, each arrival and each ack comes up to ``jitter`` seconds late (an
  event loop that ran late), never before the one ahead of it: acks arrive
  bunched, though the bottleneck itself keeps its rate;
* with ``stalls``, the sender's event loop hears no ack while it captures
  (the encoder holds the interpreter): those acks are all handled when the
  capture ends.

The screen is a `Workload`: what changes at each capture, and when each
change happened (to measure change-to-shown). A change is encoded as the
codec does it, one tile per grid row of 64 pixels it spans (so big updates
can be sent in slices; the first update is a keyframe, as the desktop's, and
is never sliced), and is *shown* when the last of its tiles arrives; a change
some of whose tiles were merged away (superseded) is never shown.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from ra.desktop.codec import Codec, Tile, Update
from ra.desktop.pacing import Pacer, wire_size

W, H = 1920, 1080
ROW = 64  # the codec's cells: a change is one tile per row of them


@dataclass
class Change:
    """A region that changed at `at` and its size on the wire at quality q."""

    at: float
    rect: tuple[int, int, int, int]
    bytes_at: Callable[[int], int]
    label: str


@dataclass
class Shown:
    label: str
    changed_at: float
    shown_at: float
    offered_at: float  # when the update carrying it was offered to the pacer


@dataclass
class Result:
    duration: float
    shown: list[Shown] = field(default_factory=list)
    delivered: list[tuple[float, float, int]] = field(default_factory=list)
    """(service start, service end, bytes) of each update at the bottleneck."""
    queue_delays: list[float] = field(default_factory=list)
    """Seconds each update waited at the bottleneck before its first byte went."""
    qualities: list[int] = field(default_factory=list)

    def utilisation(self, rate: float, start: float, end: float) -> float:
        busy = sum(max(0.0, min(e, end) - max(s, start)) for s, e, _n in self.delivered)
        return busy / (end - start)

    def latencies(self, label: str, start: float = 0.0) -> list[float]:
        return sorted(s.shown_at - s.changed_at for s in self.shown
                      if s.label == label and s.changed_at >= start)

    def waits(self, label: str, start: float = 0.0) -> list[float]:
        """Seconds from offered to the pacer to arrived, of each change shown."""
        return sorted(s.shown_at - s.offered_at for s in self.shown
                      if s.label == label and s.changed_at >= start)

    def shown_per_s(self, label: str, start: float, end: float) -> float:
        return sum(1 for s in self.shown
                   if s.label == label and start <= s.shown_at < end) / (end - start)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))]


Workload = Callable[[float, float], list[Change]]
"""(last capture, this capture) -> the changes made in between (empty: idle)."""


def full_screen(bytes_per_quality: int = 2800) -> Workload:
    """Every pixel changes all the time (a video, the bench's painter)."""
    def changes(_last: float, now: float) -> list[Change]:
        return [Change(now, (0, 0, W, H), lambda q: q * bytes_per_quality, "full")]
    return changes


def typing(period: float = 0.1, size: int = 3000) -> Workload:
    """One character every `period` seconds in the top-left cell."""
    def changes(last: float, now: float) -> list[Change]:
        first = int(last / period) + 1
        keys = [k * period for k in range(first, int(now / period) + 1)]
        return [Change(keys[0], (0, 0, 64, 64), lambda _q: size, "typing")] if keys else []
    return changes


def both(*workloads: Workload) -> Workload:
    def changes(last: float, now: float) -> list[Change]:
        return [c for w in workloads for c in w(last, now)]
    return changes


def below_the_top_row(bytes_per_quality: int = 2800) -> Workload:
    """Everything but the top row of cells changes all the time."""
    def changes(_last: float, now: float) -> list[Change]:
        return [Change(now, (0, 64, W, H - 64), lambda q: q * bytes_per_quality, "big")]
    return changes


def run_link(pacer: Pacer, workload: Workload, *, rate: float, delay: float,
             duration: float, capture_time: float = 0.01, jitter: float = 0.0,
             stalls: bool = False, seed: int = 1) -> Result:
    result = Result(duration)
    events: list[tuple[float, int, int]] = []  # (ack time, tie-break, seq) at the sender
    link_free = 0.0
    last_arrival = last_ack = 0.0
    late = random.Random(seed)
    seq = 0
    tie = 0
    # Per tile: the change it belongs to; per change: its tiles still to arrive.
    carried: dict[int, int] = {}
    missing: dict[int, int] = {}
    about: dict[int, tuple[str, float, float]] = {}  # change: label, changed_at, offered_at
    alive: list[Tile] = []  # keeps every tile's id() its own
    now = 0.0
    last_capture = 0.0
    stalled: list[tuple[int, int]] = []

    def send_ready(t: float) -> None:
        nonlocal link_free, tie, last_arrival, last_ack
        while (update := pacer.poll(t)) is not None:
            size = wire_size(update)
            pacer.on_sent(size, t)
            start = max(t, link_free)
            link_free = start + size / rate
            result.delivered.append((start, link_free, size))
            result.queue_delays.append(start - t)
            arrived = last_arrival = max(last_arrival,
                                         link_free + delay + late.uniform(0, jitter))
            for tile in update.tiles:
                change = carried.get(id(tile))
                if change is None:
                    continue
                missing[change] -= 1
                if missing[change] == 0:
                    label, at, offered = about[change]
                    result.shown.append(Shown(label, at, arrived, offered))
            tie += 1
            last_ack = max(last_ack, arrived + delay + late.uniform(0, jitter))
            heapq.heappush(events, (last_ack, tie, update.seq))

    def advance(until: float, stop_on_ack: bool = False) -> float:
        nonlocal now
        while events and events[0][0] <= until:
            t, _tie, acked = heapq.heappop(events)
            now = max(now, t)
            pacer.on_ack(acked, now)
            send_ready(now)
            if stop_on_ack:
                return now
        now = max(now, until)
        return now

    while now < duration:
        due = pacer.next_capture_at(now)
        advance(due)
        if pacer.busy and pacer.pending is not None:
            advance(now + 0.25, stop_on_ack=True)
        started = now
        if stalls:  # acks that come meanwhile wait for the capture, then all at once
            while events and events[0][0] <= started + capture_time:
                _t, tie_, acked = heapq.heappop(events)
                stalled.append((tie_, acked))
            now = started + capture_time
            for _tie, acked in stalled:
                pacer.on_ack(acked, now)
            stalled.clear()
            send_ready(now)
        else:
            advance(started + capture_time)
        changes = workload(last_capture, started)
        last_capture = started
        if not changes:
            pacer.idle(started)
            continue
        seq += 1
        tiles = []
        for change in changes:
            x, y, w, h = change.rect
            rows = range(y, y + h, ROW)
            size = change.bytes_at(pacer.quality) * ROW // h if h > ROW else 0
            key = len(about)
            about[key] = (change.label, change.at, started)
            missing[key] = len(rows)
            for top in rows:
                rows_h = min(ROW, y + h - top)
                n = size * rows_h // ROW if size else change.bytes_at(pacer.quality)
                tile = Tile(x, top, w, rows_h, Codec.JPEG, bytes(n))
                carried[id(tile)] = key
                alive.append(tile)
                tiles.append(tile)
        result.qualities.append(pacer.quality)
        update = Update(seq, W, H, 0, 0, tuple(tiles), keyframe=seq == 1)  # as the desktop's
        pacer.offer(update, started, capture_time=capture_time)
        # The model sends no keyframe after the first: a merge past an update's bounds
        # would drop changes.
        assert not pacer.keyframe_due, "a merge past the bounds of an update"
        send_ready(now)
    return result
