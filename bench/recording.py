"""The recording benchmark: what recording the screen costs a session, and how fast a replay starts.

Run ``python -m bench recording`` (3 rounds of the desktop part, then the
replay part on a 30-minute recording; about 15 minutes) or ``--quick``
(1 round of short runs, a 5-minute recording). ``--skip-desktop`` and
``--skip-replay`` run one part.

**Recording on against off** (`bench.desktop`, its ``fullscreen`` and
``terminal`` workloads): in every round each workload runs with ra's person
side recording its screen (system ``ra-rec``: `ScreenRecorder` under a key
from the keystore, each chunk's ``recording.chunk`` event appended to the
log, as `ra ask` does) and without (``ra``), one after the other, the order
swapped every round, so the load of a shared machine falls on both alike.
Reported per workload: the median updates/s the helper decoded with
recording off and on, the change (of the medians, and the median of each
round's own change), the person side's CPU (and its CPU milliseconds per
update decoded, which a loaded machine moves less than updates/s), the
change->decoded latency, how late the person side's event loop woke (p99
of 10 ms sleeps, and the seconds it was more than 50 ms late: what blocks
the sending path shows there), and the recording's size on
disk per minute of session (the session folder's bytes over the time from
the session's start to the recorder's close). The one-minute load average
before every run is kept with the samples. A run in which the helper got no
update at all in the window (the person side's loop blocked throughout:
input is injected with an X sync on the loop, and the terminal workload
saturates Xvfb) is counted, not averaged in, for either system.

**Replay** (`ra audit replay SESSION --screen`): a 30-minute session is made
first, honestly but fast: the real sans-IO `SessionEngine` makes the
session's events (connect, consent, control, Esc, chat, the end) and the
real `ScreenRecorder` records real `TileEncoder` updates (browser-safe, as
sent) of a synthetic terminal, all on a fake clock, the way the desktop's
capture loop drives them: a capture tick 30 times a second; an update when
the screen changed, and a keyframe when the recorder says a chunk is due.
The terminal (1920x1080, 192x54 cells of anti-aliased glyphs) repeats:
a command typed at ~8 keys/s, its output (1 to a few hundred lines, at most
12 lines a tick), then an idle pause (exponential, mean 4 s). The recorder
writes its encrypted chunks and the engine's ``recording.chunk`` events go
to a real event log, as in a live session.

Then, with headless Chromium (Playwright, ``/usr/bin/chromium``) already
running, each trial starts ``python -m ra audit replay SESSION --screen
--no-browser``, opens the opener file it names, and takes the time from the
command's start to the first frame drawn on the page's canvas (the page's
own clock: a MutationObserver on the canvas's ``data-seq``, installed before
the page's script, records ``performance.timeOrigin + performance.now()``,
Unix milliseconds; Playwright's network events are not used, as listening
to them slows the page). The split: command start to its link printed;
page navigation to the replay message; to the first frame. Seek: in one
page, ``window.raReplay.seek`` to points spread over the recording (each in
a chunk not loaded yet), timed in the page from the call until the picture
is there; then to the same points again (their chunks already in the page:
what is left is drawing from the chunk's keyframe to the point). The ra
process's CPU time up to its link is kept too: on a loaded machine it says
what the wall time would be on an idle one.

Results land in ``bench/results/recording-<date>.json``; the tables are
printed as Markdown.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench import desktop

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
PY = sys.executable

WORKLOADS = ("fullscreen", "terminal")
COST_TARGET_PCT = 5.0
FIRST_FRAME_TARGET_S = 1.0
TICK_S = 1 / 30
CELL_W, CELL_H = 10, 20
COLS, ROWS = desktop.WIDTH // CELL_W, desktop.HEIGHT // CELL_H
MAX_LINES_PER_TICK = 12
HELPER_KEY = "3f2a19c08b7e55d1" + "0" * 48

#: Records when the canvas first shows a frame, on the page's own clock (Unix ms). The
#: recording starts when the view does, a few seconds into the session: once the page
#: is ready it goes there (FIRST_AT, seconds from the session's start), as a reviewer
#: pressing play would reach it.
FIRST_FRAME_JS = """
(() => {
  const marks = {};
  window.__raBench = marks;
  new MutationObserver((records, observer) => {
    if (marks.drawn !== undefined) return;
    marks.drawn = performance.timeOrigin + performance.now();
    observer.disconnect();
    requestAnimationFrame(() => { marks.painted = performance.timeOrigin + performance.now(); });
  }).observe(document, { subtree: true, attributes: true, attributeFilter: ["data-seq"] });
  const ready = setInterval(() => {
    if (window.raReplay && window.raReplay.ready && marks.ready === undefined) {
      marks.ready = performance.timeOrigin + performance.now();
      clearInterval(ready);
      window.raReplay.seek(FIRST_AT);  // the screen is first shown there: go to it
    }
  }, 1);
})();
"""

SEEK_JS = """async (position) => {
  const started = performance.now();
  const landed = await window.raReplay.seek(position);
  return { ms: performance.now() - started, landed: landed };
}"""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 3) if values else None


# --- recording on against off -------------------------------------------------------------


def desktop_part(cfg: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    run_cfg = argparse.Namespace(seconds=cfg.seconds, warmup=cfg.warmup, input_hz=30.0,
                                 profile=False, profile_out="")
    samples: list[dict[str, Any]] = []
    for rnd in range(cfg.rounds):
        for workload in cfg.workloads:
            order = ["ra", "ra-rec"] if rnd % 2 == 0 else ["ra-rec", "ra"]
            for system in order:
                load = os.getloadavg()[0]
                log(f"round {rnd + 1}/{cfg.rounds}: {workload} / {system} (load {load:.2f})")
                sample = desktop.run_one(system, workload, run_cfg,
                                         tmp / f"{rnd}-{workload}-{system}")
                sample.update(round=rnd, load_1min_before=round(load, 2))
                samples.append(sample)
                log(f"  updates/s {sample['updates_per_s']}, server CPU "
                    f"{sample['cpu_percent'].get('server')} %, disk MB/min "
                    f"{sample.get('disk_mbytes_per_min')}")
    part = {"samples": samples, "summary": cost_summary(samples)}
    part["recorder"] = recorder_cost(part, tmp)
    return part


def _cpu_per_update(sample: dict[str, Any]) -> float:
    """The person side's CPU milliseconds per update the helper decoded."""
    ups = sample["updates_per_s"] or float("nan")
    return float(sample["cpu_percent"].get("server", 0.0)) * 10 / ups


def _person(runs: dict[int, dict[str, Any]], key: str) -> list[float]:
    return [float(r["person_stats"][key]) for r in runs.values()
            if r.get("person_stats", {}).get(key) is not None]


def cost_summary(samples: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per workload: updates/s off and on, their change, CPU, disk per minute."""
    out: dict[str, dict[str, Any]] = {}
    for workload in dict.fromkeys(s["workload"] for s in samples):
        runs = {system: {s["round"]: s for s in samples
                         if s["workload"] == workload and s["system"] == system
                         and s["updates_per_s"]}
                for system in ("ra", "ra-rec")}
        stalled = {system: sum(1 for s in samples if s["workload"] == workload
                               and s["system"] == system and not s["updates_per_s"])
                   for system in ("ra", "ra-rec")}
        off = [s["updates_per_s"] for s in runs["ra"].values()]
        on = [s["updates_per_s"] for s in runs["ra-rec"].values()]
        paired = [100 * (runs["ra-rec"][r]["updates_per_s"] / runs["ra"][r]["updates_per_s"] - 1)
                  for r in runs["ra"] if r in runs["ra-rec"] and runs["ra"][r]["updates_per_s"]]
        off_m, on_m = _median(off), _median(on)
        change = (round(100 * (on_m / off_m - 1), 2) if off_m and on_m is not None else None)
        out[workload] = {
            "rounds": len(paired),
            "runs_without_updates_off": stalled["ra"],
            "runs_without_updates_on": stalled["ra-rec"],
            "updates_per_s_off": off_m, "updates_per_s_on": on_m,
            "updates_per_s_off_range": [min(off), max(off)] if off else None,
            "updates_per_s_on_range": [min(on), max(on)] if on else None,
            "change_pct": change,
            "change_pct_paired_median": _median(paired),
            "cpu_server_off": _median([s["cpu_percent"].get("server", 0.0)
                                       for s in runs["ra"].values()]),
            "cpu_server_on": _median([s["cpu_percent"].get("server", 0.0)
                                      for s in runs["ra-rec"].values()]),
            "cpu_ms_per_update_off": _median([_cpu_per_update(s) for s in runs["ra"].values()]),
            "cpu_ms_per_update_on": _median([_cpu_per_update(s)
                                             for s in runs["ra-rec"].values()]),
            "latency_ms_p50_off": _median([s["latency_ms_p50"] for s in runs["ra"].values()
                                           if s.get("latency_ms_p50") is not None]),
            "latency_ms_p50_on": _median([s["latency_ms_p50"] for s in runs["ra-rec"].values()
                                          if s.get("latency_ms_p50") is not None]),
            "loop_lag_ms_p99_off": _median(_person(runs["ra"], "loop_lag_ms_p99")),
            "loop_lag_ms_p99_on": _median(_person(runs["ra-rec"], "loop_lag_ms_p99")),
            "loop_stalled_s_off": _median(_person(runs["ra"], "loop_stalled_s")),
            "loop_stalled_s_on": _median(_person(runs["ra-rec"], "loop_stalled_s")),
            "disk_mbytes_per_min": _median([s["disk_mbytes_per_min"]
                                            for s in runs["ra-rec"].values()
                                            if s.get("disk_mbytes_per_min") is not None]),
            "load_1min": _median([s["load_1min_before"] for s in samples
                                  if s["workload"] == workload]),
            "met": change is not None and change >= -COST_TARGET_PCT,
        }
    return out


def recorder_cost(part: dict[str, Any], tmp: Path) -> dict[str, dict[str, Any]]:
    """Per workload: the recorder's own cost, for the updates the last ``ra-rec`` run sent.

    Those updates (read back from that run's recording) are fed again, as fast as
    they go, to a recorder wired as in the run (`bench.desktop._bench_recorder`: the
    keystore key, the ``recording.chunk`` event appended to a log), its clock set to
    each update's time. CPU time is the process's (every thread: add, seal, AES-GCM,
    SHA-256, write, fsync, the event); ``on_path`` is the time `add` and `due` take on
    the loop, the part that is on the sending path. A loaded machine moves these far
    less than updates/s.
    """
    out: dict[str, dict[str, Any]] = {}
    for workload, summary in part["summary"].items():
        runs = [s for s in part["samples"]
                if s["workload"] == workload and s["system"] == "ra-rec"]
        if not runs:
            continue
        frames = _recorded(tmp / f"{runs[-1]['round']}-{workload}-ra-rec" / "home")
        cost = asyncio.run(_feed(frames, tmp / f"cost-{workload}"))
        person = summary.get("cpu_ms_per_update_off")
        cost["person_cpu_ms_per_update_off"] = person
        cost["share_pct"] = (round(100 * cost["cpu_ms_per_update"] / person, 2)
                             if person else None)
        out[workload] = cost
        log(f"recorder cost, {workload}: " + json.dumps(cost))
    return out


def _recorded(home: Path) -> list[tuple[float, bytes, bool]]:
    """(time, update bytes, keyframe) of every update a bench run recorded."""
    from ra.desktop.codec import decode_update
    from ra.events import EventStore
    from ra.home import Home
    from ra.recording.store import load_recording

    found = Home.at(home)
    with EventStore.open(found) as store:
        recording = load_recording(found, store, desktop.BENCH_SESSION)
    frames = [f for entry in recording.chunks for f in recording.frames(entry)]
    return [(t, data, decode_update(data).keyframe) for t, data in frames]


async def _feed(frames: list[tuple[float, bytes, bool]], home: Path) -> dict[str, Any]:
    clock = {"now": frames[0][0]}
    recorder = desktop._bench_recorder(home, wall=lambda: clock["now"])
    on_path = []
    cpu, wall = time.process_time(), time.perf_counter()
    for moment, data, keyframe in frames:
        clock["now"] = moment
        started = time.perf_counter()
        recorder.due()
        recorder.add(data, keyframe)
        on_path.append(time.perf_counter() - started)
        await asyncio.sleep(0)  # the chunks are written meanwhile, as in a session
    await recorder.close()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    return {"updates": len(frames), "chunks": recorder.chunks_written,
            "mbytes": round(recorder.bytes_written / 1e6, 1),
            "cpu_ms_per_update": round(1000 * cpu / len(frames), 3),
            "on_path_us_per_update_median": round(1e6 * statistics.median(on_path), 1),
            "on_path_us_per_update_max": round(1e6 * max(on_path), 1),
            "wall_s": round(wall, 2)}


# --- a long recording, made as a session makes it ------------------------------------------


class Terminal:
    """A 1920x1080 terminal of 192x54 cells of anti-aliased glyphs (BGRA frames)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        small = rng.random((96, 7, 5)) < 0.4
        small[0] = False  # a space
        glyphs = np.zeros((96, CELL_H, CELL_W), dtype=np.float32)
        glyphs[:, 3:17, 0:10] = np.repeat(np.repeat(small, 2, axis=1), 2, axis=2)
        soft = glyphs.copy()  # a box blur: grey edges, as anti-aliased text has
        soft[:, 1:, :] += glyphs[:, :-1, :] * 0.5
        soft[:, :, 1:] += glyphs[:, :, :-1] * 0.5
        self.atlas = np.clip(soft * 180, 0, 229).astype(np.uint8)
        self.grid = np.zeros((ROWS, COLS), dtype=np.int16)
        self.row, self.col = 0, 0

    def frame(self) -> np.ndarray:
        grey = self.atlas[self.grid].transpose(0, 2, 1, 3).reshape(desktop.HEIGHT,
                                                                    desktop.WIDTH)
        out = np.empty((desktop.HEIGHT, desktop.WIDTH, 4), dtype=np.uint8)
        out[:, :, 0] = grey
        out[:, :, 1] = grey
        out[:, :, 2] = grey
        out[:, :, 3] = 0
        return out

    def newline(self) -> None:
        self.col = 0
        if self.row + 1 < ROWS:
            self.row += 1
        else:
            self.grid[:-1] = self.grid[1:]
            self.grid[-1] = 0

    def key(self) -> None:
        if self.col >= COLS:
            self.newline()
        self.grid[self.row, self.col] = int(self.rng.integers(1, 96))
        self.col += 1

    def line(self) -> None:
        length = int(self.rng.integers(0, COLS))
        self.grid[self.row, :length] = self.rng.integers(1, 96, length)
        self.newline()


class Script:
    """What happens on the terminal when: a command typed, its output, a pause, again."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.phase = "pause"
        self.keys: list[float] = []  # times of the keys still to come
        self.lines = 0  # output lines still to come
        self.until = 0.0  # the end of the pause

    def step(self, now: float, screen: Terminal) -> bool:
        """Play what is due at `now` on `screen`; whether the screen changed."""
        if self.phase == "pause":
            if now < self.until:
                return False
            self.phase = "typing"
            at = now
            for _ in range(int(self.rng.integers(5, 40))):
                at += float(self.rng.exponential(0.12))
                self.keys.append(at)
        if self.phase == "typing":
            changed = False
            while self.keys and self.keys[0] <= now:
                self.keys.pop(0)
                screen.key()
                changed = True
            if self.keys:
                return changed
            screen.newline()  # enter: the command's output follows
            self.phase = "output"
            self.lines = int(min(400, 1 + self.rng.pareto(1.2) * 6))
            return True
        shown = min(self.lines, MAX_LINES_PER_TICK)
        for _ in range(shown):
            screen.line()
        self.lines -= shown
        if not self.lines:
            self.phase = "pause"
            self.until = now + float(self.rng.exponential(4.0))
        return True


def build_recording(home: Path, minutes: float, seed: int = 7) -> dict[str, Any]:
    return asyncio.run(_build(home, minutes, seed))


async def _build(home_path: Path, minutes: float, seed: int) -> dict[str, Any]:
    from ra.desktop.codec import TileEncoder
    from ra.engine import Output, Record, SessionEngine
    from ra.engine import messages as msg
    from ra.events import EventStore
    from ra.home import Home
    from ra.recording.chunks import KEY_PURPOSE, ChunkInfo, session_folder
    from ra.recording.recorder import ScreenRecorder
    from ra.session_keys import SessionKeys

    home = Home.at(home_path)
    store = EventStore.open(home)
    session_id = secrets.token_hex(8)
    stream = f"session:{session_id}"
    key = SessionKeys(home).key(session_id, KEY_PURPOSE, create=True)
    t0 = time.time() - 86400  # a session that began yesterday
    clock = {"now": t0}
    engine = SessionEngine("person", "Alice", refusals_every_s=1.0, recording=True)

    def record(outputs: list[Output]) -> None:
        events = [out.event for out in outputs if isinstance(out, Record)]
        if events:
            store.append(stream, None, events,
                         now=datetime.fromtimestamp(clock["now"], UTC))

    def on_chunk(info: ChunkInfo) -> None:  # as the driver does, on the loop
        record(engine.recording_chunk(info.payload(), clock["now"]))

    recorder = ScreenRecorder(session_folder(home.root, session_id), key, session_id, on_chunk,
                              wall=lambda: clock["now"])
    end = minutes * 60
    plan: list[tuple[float, Callable[[float], list[Output]]]] = [
        (0.0, lambda now: engine.connected("Bob (IT)", now, key=HELPER_KEY,
                                           address="203.0.113.5")),
        (0.5, engine.authenticated),
        (3.5, lambda now: engine.consent_answered("view", True, now)),
    ]
    for start in np.arange(120.0, end - 60, 300.0):  # control asked and given, Esc, chat
        plan += [
            (start, lambda now: engine.received(msg.control_request(), now)),
            (start + 2, lambda now: engine.consent_answered("control", True, now)),
            (start + 90, engine.esc_pressed),
            (start + 95, lambda now: engine.received(msg.chat("thanks, looking"), now)),
        ]
    plan.append((end, lambda now: engine.local_command("/disconnect", now)))
    plan.sort(key=lambda step: step[0])
    rng = np.random.default_rng(seed)
    screen, script = Terminal(rng), Script(rng)
    encoder = TileEncoder(desktop.WIDTH, desktop.HEIGHT, browser_safe=True)
    streaming_from = 3.5
    first_frame_at = t0 + streaming_from
    want_keyframe = True
    ticks = updates = keyframes = sent = 0
    started = time.monotonic()
    t = 0.0
    while t < end:
        clock["now"] = t0 + t
        while plan and plan[0][0] <= t:
            record(plan.pop(0)[1](t0 + t))
        if t >= streaming_from:
            changed = script.step(t, screen)
            if recorder.due():
                want_keyframe = True
            if changed or want_keyframe:
                update = encoder.encode(screen.frame(), force_full=want_keyframe, quality=75)
                if update.tiles or update.keyframe:
                    data = update.to_bytes()
                    recorder.add(data, update.keyframe)
                    if not updates:
                        first_frame_at = clock["now"]
                    updates += 1
                    keyframes += int(update.keyframe)
                    sent += len(data)
                want_keyframe = False
        ticks += 1
        if ticks % 30 == 0:
            await asyncio.sleep(0)  # the recorder's writes and events go on
        if ticks % (30 * 60) == 0:
            log(f"  recorded {t / 60:.0f} of {minutes:g} minutes "
                f"({time.monotonic() - started:.0f} s)")
        t = ticks * TICK_S
    clock["now"] = t0 + end
    while plan:
        record(plan.pop(0)[1](t0 + end))
    await recorder.close()
    store.close()
    folder = session_folder(home.root, session_id)
    return {"session": session_id, "minutes": minutes, "updates": updates,
            "first_frame_at_s": round(first_frame_at - t0, 6),
            "keyframes": keyframes, "sent_bytes": sent, "chunks": recorder.chunks_written,
            "recorded_bytes": recorder.bytes_written,
            "folder_bytes": desktop._folder_bytes(folder),
            "disk_mbytes_per_min": round(desktop._folder_bytes(folder) / 1e6 / minutes, 2),
            "updates_per_s": round(updates / (end - streaming_from), 2),
            "build_s": round(time.monotonic() - started, 1)}


# --- replay: first frame and seek ----------------------------------------------------------


def _start_replay(home: Path, session: str) -> tuple[subprocess.Popen[str], str, float]:
    """`ra audit replay --screen --no-browser`, started now; its opener URL and when it was
    printed (Unix seconds)."""
    env = {**os.environ, "RA_HOME": str(home), "RA_LOG_LEVEL": "warning",
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([PY, "-m", "ra", "audit", "replay", session, "--screen",
                             "--no-browser"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, cwd=ROOT, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:
        found = re.search(r"replay: open (file://\S+) in your browser", line)
        if found:
            return proc, found.group(1), time.time()
    proc.wait(10)
    raise RuntimeError(f"ra audit replay exited with {proc.returncode} before its link")


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def replay_part(cfg: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    import psutil
    from playwright.sync_api import sync_playwright

    home = Path(cfg.replay_home) if cfg.replay_home else tmp / "replay-home"
    made_file = home / "bench-recording.json"
    if made_file.exists():  # made by an earlier run: replayed again
        made = json.loads(made_file.read_text())
        log(f"replaying the {made['minutes']:g}-minute recording in {home}")
    else:
        log(f"making a {cfg.minutes:g}-minute recording")
        made = build_recording(home, cfg.minutes)
        made_file.write_text(json.dumps(made))
        log("  " + json.dumps(made))
    trials: list[dict[str, Any]] = []
    seeks: list[dict[str, Any]] = []
    with sync_playwright() as playwright:
        launched = time.monotonic()
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             headless=True,
                                             args=["--no-sandbox", "--disable-gpu"])
        browser_s = time.monotonic() - launched
        for trial in range(cfg.trials):
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.add_init_script(FIRST_FRAME_JS.replace("FIRST_AT",
                                                        repr(made["first_frame_at_s"])))
            load = os.getloadavg()[0]
            started = time.time()
            proc, url, linked = _start_replay(home, made["session"])
            cpu = psutil.Process(proc.pid).cpu_times()
            try:
                page.goto(url)
                page.wait_for_function("() => window.__raBench && window.__raBench.painted",
                                       timeout=60_000)
                marks = page.evaluate("() => window.__raBench")
                nav = page.evaluate("() => performance.timeOrigin")
                row = {"trial": trial, "load_1min_before": round(load, 2),
                       "command_to_link_s": round(linked - started, 3),
                       "command_cpu_to_link_s": round(cpu.user + cpu.system, 3),
                       "link_to_page_s": round(nav / 1000 - linked, 3),
                       "page_to_replay_message_s": round((marks["ready"] - nav) / 1000, 3),
                       "replay_message_to_first_frame_s": round(
                           (marks["drawn"] - marks["ready"]) / 1000, 3),
                       "first_frame_s": round(marks["drawn"] / 1000 - started, 3),
                       "first_frame_painted_s": round(marks["painted"] / 1000 - started, 3)}
                trials.append(row)
                log(f"  trial {trial + 1}: " + json.dumps(row))
                if trial == 0:
                    seeks = _seeks(page, cfg.seeks)
            finally:
                page.close()
                _stop(proc)
        browser.close()
    seek_ms = [s["ms"] for s in seeks if not s["warm"]]
    warm_ms = [s["ms"] for s in seeks if s["warm"]]
    first = [t["first_frame_s"] for t in trials]
    return {
        "recording": made,
        "browser_launch_s": round(browser_s, 3),
        "trials": trials,
        "seeks": seeks,
        "summary": {
            "first_frame_s_median": _median(first),
            "first_frame_s_range": [min(first), max(first)] if first else None,
            "command_to_link_s_median": _median([t["command_to_link_s"] for t in trials]),
            "page_to_replay_message_s_median": _median(
                [t["page_to_replay_message_s"] for t in trials]),
            "replay_message_to_first_frame_s_median": _median(
                [t["replay_message_to_first_frame_s"] for t in trials]),
            "seek_ms_median": _median(seek_ms),
            "seek_ms_max": round(max(seek_ms), 1) if seek_ms else None,
            "seek_warm_ms_median": _median(warm_ms),
            "command_cpu_to_link_s_median": _median(
                [t["command_cpu_to_link_s"] for t in trials]),
            "seeks": len(seek_ms),
            "met": bool(first) and statistics.median(first) < FIRST_FRAME_TARGET_S,
        },
    }


def _seeks(page: Any, count: int) -> list[dict[str, Any]]:
    """Seek to `count` points spread over the recording, each in a chunk not yet loaded."""
    duration = float(page.evaluate("() => window.raReplay.duration()"))
    rng = np.random.default_rng(11)
    points = [duration * (i + float(rng.random())) / count for i in range(count)]
    order = rng.permutation(count)  # not in time order: a reviewer jumps about
    out = []
    for warm in (False, True):  # then again, each chunk already in the page
        for i in order:
            result = page.evaluate(SEEK_JS, points[i])
            out.append({"position_s": round(points[i], 2), "ms": round(result["ms"], 1),
                        "warm": warm, "chunk": result["landed"]["chunk"],
                        "frame": result["landed"]["frame"], "bad": result["landed"]["bad"]})
            log(f"  seek to {points[i]:7.1f} s{' again' if warm else ''}: "
                f"{result['ms']:.0f} ms (chunk {result['landed']['chunk']}, "
                f"frame {result['landed']['frame']})")
    return out


# --- the report ---------------------------------------------------------------------------


def markdown(result: dict[str, Any]) -> str:
    lines: list[str] = []
    cost = result.get("desktop", {}).get("summary", {})
    if cost:
        lines += [
            "| workload | updates/s off | updates/s on | change (of medians; per round) "
            "| person side CPU % off / on | CPU ms per update off / on "
            "| change→decoded p50 ms off / on | person loop lag p99 ms off / on "
            "(stalled s) | disk MB/min | load (1 min) | runs without updates off / on |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for workload, c in cost.items():
            def span(key: str, c: dict[str, Any] = c) -> str:
                lo, hi = c[key + "_range"]
                return f"{c[key]:.1f} ({lo:.1f}–{hi:.1f})"

            lines.append(
                f"| {workload} | {span('updates_per_s_off')} | {span('updates_per_s_on')} "
                f"| {c['change_pct']:+.1f} %; {c['change_pct_paired_median']:+.1f} % "
                f"| {c['cpu_server_off']:.0f} / {c['cpu_server_on']:.0f} "
                f"| {c['cpu_ms_per_update_off']:.1f} / {c['cpu_ms_per_update_on']:.1f} "
                f"| {c['latency_ms_p50_off']} / {c['latency_ms_p50_on']} "
                f"| {c['loop_lag_ms_p99_off']} / {c['loop_lag_ms_p99_on']} "
                f"({c['loop_stalled_s_off']} / {c['loop_stalled_s_on']}) "
                f"| {c['disk_mbytes_per_min']} | {c['load_1min']} "
                f"| {c['runs_without_updates_off']} / {c['runs_without_updates_on']} |")
        lines.append("")
    recorder = result.get("desktop", {}).get("recorder", {})
    if recorder:
        lines += [
            "The recorder's own cost (the updates of one recorded run fed again to it):",
            "",
            "| workload | updates | recorder CPU ms per update | person side CPU ms per "
            "update, recording off | share | on the sending path µs per update (max) |",
            "|---|---|---|---|---|---|",
        ]
        for workload, c in recorder.items():
            lines.append(
                f"| {workload} | {c['updates']:,} ({c['chunks']} chunks, {c['mbytes']} MB) "
                f"| {c['cpu_ms_per_update']:.3f} | {c['person_cpu_ms_per_update_off']:.1f} "
                f"| {c['share_pct']} % | {c['on_path_us_per_update_median']} "
                f"({c['on_path_us_per_update_max']}) |")
        lines.append("")
    replay = result.get("replay")
    if replay:
        s, made = replay["summary"], replay["recording"]
        lo, hi = s["first_frame_s_range"]
        lines += [
            f"Replay of a {made['minutes']:g}-minute recording ({made['chunks']} chunks, "
            f"{made['folder_bytes'] / 1e6:,.0f} MB, {made['updates']:,} updates, "
            f"{made['updates_per_s']} updates/s, {made['disk_mbytes_per_min']} MB/min):",
            "",
            "| measure | median | target |",
            "|---|---|---|",
            f"| command start → first frame shown | {s['first_frame_s_median']:.3f} s "
            f"({lo:.3f}–{hi:.3f}, {len(replay['trials'])} trials) "
            f"| < {FIRST_FRAME_TARGET_S:g} s: {'met' if s['met'] else '**not met**'} |",
            f"| … command start → link printed | {s['command_to_link_s_median']:.3f} s "
            f"(CPU {s['command_cpu_to_link_s_median']:.3f} s) | |",
            f"| … page opened → replay message | {s['page_to_replay_message_s_median']:.3f} s "
            "| |",
            f"| … replay message → first frame | "
            f"{s['replay_message_to_first_frame_s_median']:.3f} s | |",
            f"| seek (to a chunk not loaded yet) | {s['seek_ms_median']:.0f} ms "
            f"(max {s['seek_ms_max']:.0f}, {s['seeks']} seeks) | |",
            f"| seek again (chunk already in the page) | {s['seek_warm_ms_median']:.0f} ms | |",
        ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench recording", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    desktop.add_run_options(parser, 20.0)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--minutes", type=float, default=30.0,
                        help="length of the recording replayed")
    parser.add_argument("--trials", type=int, default=5, help="replay starts timed")
    parser.add_argument("--seeks", type=int, default=9)
    parser.add_argument("--replay-home", default=None,
                        help="make the recording in this folder, or replay the one made "
                             "there before (default: a scratch folder)")
    parser.add_argument("--skip-desktop", action="store_true")
    parser.add_argument("--skip-replay", action="store_true")
    parser.add_argument("--quick", action="store_true",
                        help="1 round of 8 s, a 5-minute recording, 3 trials")
    parser.add_argument("--out", default=None)
    cfg = parser.parse_args(argv)
    if cfg.quick:
        cfg.rounds, cfg.seconds, cfg.minutes, cfg.trials = 1, 8.0, 5.0, 3
    cfg.workloads = cfg.workloads.split(",")
    RESULTS.mkdir(exist_ok=True)
    result: dict[str, Any] = {
        "suite": "recording",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": "python -m bench recording " + " ".join(argv),
        "config": {k: v for k, v in vars(cfg).items() if k != "out"},
        "git_head": desktop._command(["git", "rev-parse", "HEAD"]),
        "load_avg_at_start": os.getloadavg(),
    }
    with tempfile.TemporaryDirectory(prefix="ra-bench-recording-") as tmpdir:
        if not cfg.skip_desktop:
            result["desktop"] = desktop_part(cfg, Path(tmpdir))
        if not cfg.skip_replay:
            result["replay"] = replay_part(cfg, Path(tmpdir))
    result["machine"] = desktop.machine()
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    path = Path(cfg.out) if cfg.out else RESULTS / (
        f"recording-{date}{'-quick' if cfg.quick else ''}.json")
    path.write_text(json.dumps(result, indent=1))
    m = result["machine"]
    print(f"{m['cpus']} CPUs ({m['cpu_model']}), load average at start "
          f"{', '.join(f'{x:.2f}' for x in result['load_avg_at_start'])}, at end "
          f"{', '.join(f'{x:.2f}' for x in m['load_avg_at_end'])}\n")
    print(markdown(result))
    print(f"\nresults: {path}")
    return 0
