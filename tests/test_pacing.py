"""The pacer against a simulated link (`link_model`): fill it, do not queue, keep typing quick."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from link_model import H, W, below_the_top_row, both, full_screen, pct, run_link, typing

from ra.desktop.codec import Codec, Tile, TileEncoder, Update, decode_update
from ra.desktop.pacing import TEXT_QUALITY_FLOOR, Pacer, PacerSettings

MBIT = 1e6 / 8  # bytes a second
SECONDS = 20.0
STEADY = (5.0, SECONDS - 1)  # after the start-up, before the end


def pacer() -> Pacer:
    return Pacer(PacerSettings(max_quality=75))  # as `ra.session.desktop.X11Desktop` makes it


def test_a_full_screen_change_fills_a_20_mbit_link_without_a_queue() -> None:
    rate, delay = 20 * MBIT, 0.020
    p = pacer()
    result = run_link(p, full_screen(), rate=rate, delay=delay, duration=SECONDS)
    assert result.utilisation(rate, *STEADY) >= 0.7
    assert result.shown_per_s("full", *STEADY) >= 3 * 5.6  # the AIMD pacer showed 5.6
    # At most about one update waits at the bottleneck: a frame's budget of bytes.
    budget = rate / p.settings.target_fps / rate
    steady_delays = result.queue_delays[len(result.queue_delays) // 4:]
    assert max(steady_delays) <= 2 * budget
    assert pct(result.latencies("full", STEADY[0]), 95) <= 2 * delay + 3 * budget
    low, high = p.settings.min_quality, p.settings.max_quality
    assert low <= result.qualities[-1] < high  # the budget took quality


@pytest.mark.parametrize(("mbit", "delay"), [(100, 0.001), (5, 0.050)])
def test_other_links_are_filled_too(mbit: float, delay: float) -> None:
    rate = mbit * MBIT
    p = pacer()
    result = run_link(p, full_screen(), rate=rate, delay=delay, duration=SECONDS)
    assert result.utilisation(rate, *STEADY) >= 0.7
    largest = max(n for _s, _e, n in result.delivered) / rate
    steady_delays = result.queue_delays[len(result.queue_delays) // 4:]  # after start-up
    assert pct(steady_delays, 95) <= largest


def test_the_model_finds_the_link() -> None:
    rate, delay = 20 * MBIT, 0.020
    p = pacer()
    run_link(p, full_screen(), rate=rate, delay=delay, duration=SECONDS)
    assert p.bandwidth is not None and abs(p.bandwidth - rate) <= 0.1 * rate
    assert p.min_rtt is not None and 0.99 * 2 * delay <= p.min_rtt <= 4 * delay
    assert p.cwnd is not None and p.cwnd >= 2 * delay * rate


def test_the_estimate_holds_through_a_relay_that_bunches_acks() -> None:
    # As through bench link's relay on a loaded machine: arrivals and acks up to 20 ms
    # late, bunched behind a late one, and none heard while the sender encodes. The
    # estimate stays within 15 % of the link, and the sender does not queue behind an
    # overshoot: a full-screen change is shown within a round trip, its capture and
    # two frames' time.
    rate, delay, capture = 20 * MBIT, 0.020, 0.020
    p = pacer()
    result = run_link(p, full_screen(), rate=rate, delay=delay, duration=SECONDS,
                      jitter=0.020, stalls=True, capture_time=capture)
    assert p.bandwidth is not None and abs(p.bandwidth - rate) <= 0.15 * rate
    assert result.utilisation(rate, *STEADY) >= 0.85
    assert result.shown_per_s("full", *STEADY) >= 3 * 5.6
    frame = 1 / p.settings.target_fps
    assert pct(result.latencies("full", STEADY[0]), 50) <= 2 * delay + capture + 2 * frame


def test_a_capture_slower_than_the_link_does_not_make_the_link_look_slow() -> None:
    # 70 ms to grab and encode: the link idles between frames for want of them.
    rate, delay, capture = 20 * MBIT, 0.020, 0.070
    p = pacer()
    result = run_link(p, full_screen(), rate=rate, delay=delay, duration=SECONDS,
                      capture_time=capture)
    assert p.bandwidth is not None and abs(p.bandwidth - rate) <= 0.15 * rate
    assert result.shown_per_s("full", *STEADY) >= 0.9 / capture  # as many as are captured
    assert p.quality > p.settings.min_quality  # the frames were not made coarser for nothing


def test_a_keystroke_queued_behind_a_full_screen_update_arrives_within_rtt_plus_30ms() -> None:
    rate, delay = 20 * MBIT, 0.020
    p = pacer()
    result = run_link(p, both(below_the_top_row(), typing()), rate=rate, delay=delay,
                      duration=SECONDS)
    assert result.shown_per_s("typing", *STEADY) >= 9.5  # every keystroke on its own
    waits = result.waits("typing", STEADY[0])  # from offered to the pacer to arrived
    assert pct(waits, 95) <= 2 * delay + 0.030
    assert pct(result.latencies("typing", STEADY[0]), 50) <= 2 * delay + 0.030
    assert result.utilisation(rate, *STEADY) >= 0.9
    assert result.shown_per_s("big", *STEADY) >= 3 * 5.6
    assert p.slices > 100  # the big updates went in slices


def test_text_cells_stay_above_the_floor_whatever_the_link() -> None:
    # A narrow link drives the photo quality to its floor; text cells keep theirs.
    p = pacer()
    run_link(p, full_screen(), rate=2 * MBIT, delay=0.050, duration=SECONDS)
    assert p.quality == p.settings.min_quality < TEXT_QUALITY_FLOOR
    frame = np.full((128, 128, 4), 255, dtype=np.uint8)
    frame[:, 64:, :3] = np.random.default_rng(1).integers(0, 256, (128, 64, 3))  # photo
    frame[10:20, 5:60:3, :3] = 0  # text-like strokes on white
    encoder = TileEncoder(128, 128, browser_safe=True)
    update = decode_update(encoder.encode(frame, force_full=True, quality=p.quality).to_bytes())
    text = [t for t in update.tiles if t.x == 0]
    photo = [t for t in update.tiles if t.x == 64]
    assert text and photo
    best = TileEncoder(128, 128, browser_safe=True).encode(frame, force_full=True,
                                                           quality=TEXT_QUALITY_FLOOR)
    assert [t.data for t in text] == [t.data for t in best.tiles if t.x == 0]
    assert all(len(t.data) < len(b.data) for t, b in zip(photo, [
        b for b in best.tiles if b.x == 64], strict=True))


def test_typing_is_not_stuck_behind_a_big_change() -> None:
    rate, delay, capture = 20 * MBIT, 0.020, 0.010
    alone = run_link(pacer(), typing(), rate=rate, delay=delay, duration=SECONDS,
                     capture_time=capture)
    latencies = alone.latencies("typing", 1.0)
    assert len(latencies) >= 0.95 * 10 * (SECONDS - 1)
    # Alone: wait for the next capture, grab it, cross the link; nothing else.
    assert pct(latencies, 50) <= 1 / 60 + capture + 3000 / rate + delay + 0.001

    # Beside a change that fills the link: a keystroke waits for at most the
    # updates already in flight, never for a merged big one.
    result = run_link(pacer(), both(below_the_top_row(), typing()), rate=rate, delay=delay,
                      duration=SECONDS)
    assert result.shown_per_s("typing", *STEADY) >= 9.5  # every keystroke on its own
    latencies = result.latencies("typing", STEADY[0])
    assert pct(latencies, 50) <= 0.150
    assert pct(latencies, 95) <= 0.250
    assert result.utilisation(rate, *STEADY) >= 0.7


def test_a_small_change_goes_ahead_of_a_waiting_big_one() -> None:
    no_slices = PacerSettings(min_unacked=1, max_unacked=4, small_bytes=1000, slice_time=1.0)
    p = Pacer(no_slices)

    def update(seq: int, x: int, y: int, w: int, h: int, size: int) -> Update:
        return Update(seq, W, H, 0, 0, (Tile(x, y, w, h, Codec.JPEG, bytes(size)),))

    p.offer(update(1, 0, 64, W, H - 64, 50_000), 0.0)
    assert p.poll(0.0) is not None
    p.on_sent(50_000, 0.01)
    p.offer(update(2, 0, 64, W, H - 64, 50_000), 0.02)
    assert p.busy and p.poll(0.02) is None  # no cwnd yet: one update in flight at most
    p.offer(update(3, 0, 0, 64, 64, 500), 0.03)  # typing: no pixel shared with update 2
    assert p.express is not None and p.pending is not None and p.pending.seq == 2
    small = p.poll(0.03)
    assert small is not None and small.seq == 3  # over the cap, ahead of the big one
    p.on_sent(500, 0.03)
    assert p.poll(0.03) is None
    p.offer(update(4, 0, 0, 128, 128, 500), 0.04)  # touches update 2's pixels: merged
    assert p.express is None and p.pending is not None
    assert [t.y for t in p.pending.tiles] == [64, 0]
    p.on_ack(3, 0.1)  # acks 1 too: they went first
    assert p.in_flight == 0 and p.poll(0.1) is not None


@pytest.mark.parametrize(("mbit", "delay", "settled"), [(5, 0.050, 1.0), (20, 0.020, 0.25)])
def test_the_start_up_finds_the_round_trip_and_does_not_queue_a_seconds_worth(
        mbit: float, delay: float, settled: float) -> None:
    # The first update (a whole screen, a keyframe) is alone on the link, but its bytes'
    # time there is unknown until acks measure the bandwidth: its round trip is mostly
    # that time, not the path's. Taken whole, on 5 Mbit/s it allowed a second of queue.
    rate = mbit * MBIT
    p = pacer()
    result = run_link(p, full_screen(), rate=rate, delay=delay, duration=3.0)
    assert p.min_rtt is not None and p.min_rtt <= 1.25 * 2 * delay
    after_the_first = [s for s in result.shown if s.changed_at > 0]
    assert after_the_first and after_the_first[0].shown_at <= 1.0
    # Once settled (a second on 5 Mbit/s), frames show at least twice a second, each
    # within the round trip and three frames' bytes at the lowest quality (+ 0.1 s).
    frame_time = p.settings.min_quality * 2800 / rate  # full_screen()'s bytes
    assert result.shown_per_s("full", settled, 3.0) >= 2
    assert max(result.latencies("full", settled)) <= 2 * delay + 3 * frame_time + 0.1


def offered_every(period: float, count: int, frame: int, *, ack_after: float,
                  page_takes_one_in: int, capture_time: float | None = None) -> Pacer:
    """A fresh pacer offered `count` full-screen updates of `frame` bytes, one every
    `period` seconds, each acknowledged `ack_after` seconds after it is written; the
    helper's page takes one in `page_takes_one_in` and says the others were superseded."""
    p = pacer()
    acks: list[tuple[float, int, bool]] = []
    for k in range(count):
        now = k * period
        while acks and acks[0][0] <= now:
            at, seq, shown = acks.pop(0)
            p.on_ack(seq, at, shown=shown)
        p.offer(Update(k + 1, W, H, 0, 0, tuple(
            Tile(0, y, W, 64, Codec.JPEG, bytes(frame // 17)) for y in range(0, H, 64)),
            keyframe=k == 0), now, capture_time=capture_time)
        shown = k % page_takes_one_in == 0
        while (update := p.poll(now)) is not None:
            p.on_sent(sum(len(t.data) for t in update.tiles), now)
            acks.append((now + ack_after, update.seq, shown))
    return p


def test_updates_the_helpers_page_never_painted_do_not_count_as_delivered() -> None:
    # A fast link, 100 full-screen updates offered a second, and a page that takes one
    # in three: the helper merges away the others and says so (shown=False). The
    # pacer's bandwidth is then what the page takes, not what the link carries, and
    # its captures slow to the page's rate instead of the 60 a second it allows.
    frame = 17 * 6_000
    all_shown, a_third_shown = (
        offered_every(0.010, 300, frame, ack_after=0.005, page_takes_one_in=n) for n in (1, 3))
    assert all_shown.bandwidth is not None and a_third_shown.bandwidth is not None
    assert 0.25 <= a_third_shown.bandwidth / all_shown.bandwidth <= 0.42
    assert all_shown.interval == all_shown.settings.min_interval
    page_rate = frame * 100 / 3  # bytes a second the page takes
    assert a_third_shown.interval >= 0.8 * frame / page_rate


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(
    st.sampled_from(["offer", "poll", "ack", "idle"]),
    st.floats(0, 0.2), st.integers(-2, 40), st.booleans(), st.integers(1, 400_000)),
    max_size=200))
def test_whatever_the_helper_acknowledges_the_pacer_stays_sane(
        steps: list[tuple[str, float, int, bool, int]]) -> None:
    # A hostile helper acks what it likes: unknown seqs, the same one twice, out of
    # order, everything superseded. The pacer never fails and its model stays usable.
    p = pacer()
    now, seq = 0.0, 0
    sent: list[int] = []
    for action, wait, number, shown, size in steps:
        now += wait
        if action == "offer":
            seq += 1
            p.offer(Update(seq, W, H, 0, 0, (Tile(0, 0, W, 64, Codec.JPEG, bytes(size)),),
                           keyframe=seq == 1), now)
        elif action == "poll":
            if (update := p.poll(now)) is not None:
                p.on_sent(sum(len(t.data) for t in update.tiles), now)
                sent.append(update.seq)
        elif action == "ack":  # mostly of what was sent, in any order; or of nothing
            p.on_ack(sent[number % len(sent)] if sent and number >= 0 else number, now,
                     shown=shown)
        else:
            p.idle(now)
        assert p.in_flight >= 0
        assert p.bandwidth is None or p.bandwidth > 0
        assert p.settings.min_interval <= p.interval <= p.settings.max_interval
        assert p.settings.min_quality <= p.quality <= p.settings.max_quality
        assert p.next_capture_at(now) >= 0


def test_acks_of_updates_never_painted_teach_no_bandwidth() -> None:
    # A page that paints nothing (every update superseded) delivers nothing: no rate of
    # zero is learnt (it would stall the captures, and divide by zero).
    p = pacer()
    for k in range(1, 40):
        now = k * 0.05
        p.offer(Update(k, W, H, 0, 0, (Tile(0, 0, W, 64, Codec.JPEG, bytes(40_000)),),
                       keyframe=k == 1), now)
        while (update := p.poll(now)) is not None:
            p.on_sent(40_000, now)
            p.on_ack(update.seq, now + 0.01, shown=False)
        assert p.bandwidth is None
        assert p.interval == p.settings.min_interval


def test_a_first_bandwidth_too_low_does_not_make_the_round_trip_nothing() -> None:
    # The first update's round trip (0.4 s) loses its bytes' time at the first estimate;
    # an estimate far too low (the second update took 0.8 s) would take all of it, and a
    # round trip of nothing would cap what may be in flight at nothing.
    p = pacer()
    for seq, now in ((1, 0.0), (2, 0.01)):
        p.offer(Update(seq, W, H, 0, 0, (Tile(0, 0, W, H, Codec.JPEG, bytes(200_000)),),
                       keyframe=seq == 1), now)
        assert p.poll(now) is not None
        p.on_sent(200_000, now)
    p.on_ack(1, 0.4)
    p.on_ack(2, 1.2)
    assert p.bandwidth is not None and p.bandwidth <= 300_000
    assert p.min_rtt is not None and p.min_rtt >= 0.4 / 4


def test_captures_slowed_by_a_busy_machine_do_not_pace_the_next_ones() -> None:
    # A fast link (each 200 KB update acknowledged 4 ms after it is sent) and a
    # machine so busy that a capture comes every 25 ms: the delivery rate is then
    # the captures', not the link's. Each ack shows the link carries an update in
    # 4 ms, so the next capture is due as soon as the pacer allows any (1/60 s), not
    # 25 ms after the last one, which kept the rate at what the busy machine managed.
    # If the helper's page merges an update away unseen, the page, not the link, is
    # the limit again: the captures slow to what it takes.
    frame = 17 * 12_000
    busy, slow_page = (
        offered_every(0.025, 120, frame, ack_after=0.004, page_takes_one_in=n,
                      capture_time=0.02) for n in (1, 2))
    assert busy.bandwidth is not None and busy.bandwidth <= 1.1 * frame / 0.025
    assert busy.interval == busy.settings.min_interval
    assert slow_page.interval >= 0.8 * frame / (frame / 0.025 / 2)
