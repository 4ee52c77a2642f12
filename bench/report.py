"""The HTML report benchmark: `ra audit report --html` over a big generated log.

Run ``python -m bench report`` (1,000,000 events in 10,000 sessions; the
targets are under 30 s and under 500 MB peak) or smaller, e.g. ``python -m
bench report --events 100000 --sessions 1000``. What it does:

1. Generates the log once (not timed) in a temp dir, through the real parts:
   each session is the person's side of the sans-IO engine (`SessionEngine`)
   driven through a day's worth of help: connect, authenticate, view granted,
   chat, control asked, granted, taken back with Esc, sometimes refused, a
   little refused input, then disconnect. Its events go into a real
   `EventStore` as the driver appends them (one append per input, at that
   input's time; chat comes in bursts of one append each). One session in
   fifty also has a wrong password on its invitation. The store runs with
   ``synchronous=NORMAL`` while generating (speed only; the file is the same).
2. Runs the real command (``python -m ra audit report --html``) in a fresh
   process, ``--repeat`` times, and reports the median wall time and peak
   RSS (the child's own ``ru_maxrss``, `bench.export.run_ra`). ``--keep DIR``
   generates the log into DIR once and reuses it on later runs.
3. Prints one line per measurement and the targets, and writes the numbers as
   JSON to ``bench/results/report-<date>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.export import machine, run_ra

TARGET_SECONDS = 30.0
TARGET_MIB = 500.0
RESULTS = Path(__file__).resolve().parent / "results"


def generate(database: Path, events: int, sessions: int) -> dict[str, Any]:
    """Write about `events` events in `sessions` sessions (engine-made) to `database`."""
    from ra.engine import Record, SessionEngine
    from ra.events import Actor, NewEvent
    from ra.events.store import EventStore

    per = max(events // sessions, 20)
    start = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
    key = "5c" * 32
    written = 0
    t0 = time.perf_counter()
    with EventStore(database, sync="NORMAL") as store:
        for s in range(sessions):
            engine = SessionEngine("person", "alice")
            stream = f"session:bench-{s:07d}"
            version = 0
            base = start + timedelta(minutes=7 * s)
            clock = 0.0

            def step(outputs: list[Any], *, seconds: float = 4.0, stream: str = stream,
                     base: datetime = base) -> None:
                nonlocal version, clock, written
                clock += seconds
                batch = [o.event for o in outputs if isinstance(o, Record)]
                if batch:
                    store.append(stream, version, batch,
                                 now=base + timedelta(seconds=clock))
                    version += len(batch)
                    written += len(batch)

            step(engine.connected(f"helper {s % 97}", 0.0, key=key, address="192.0.2.10"))
            step(engine.authenticated(clock))
            step(engine.consent_answered("view", True, clock), seconds=6)
            budget = per - 2  # the end: control released (if held) and disconnected
            rounds = 0
            while version < budget:
                rounds += 1
                burst = min(12, budget - version)
                chats: list[Any] = []
                for i in range(burst):
                    chats += engine.chat(f"message {i} of round {rounds}: is the printer on?",
                                         clock)
                step(chats, seconds=20)
                if version + 6 > budget:  # a control round is up to six events
                    continue
                step(engine.received({"type": "control.request"}, clock))
                granted = rounds % 4 != 0
                step(engine.consent_answered("control", granted, clock), seconds=3)
                if granted:
                    step(engine.received({"type": "input", "event": {
                        "kind": "key", "key": "Escape", "code": "Escape", "down": True}},
                        clock), seconds=30)
                    step(engine.esc_pressed(clock), seconds=60)
            step(engine.disconnect_clicked(clock), seconds=5)
            step(engine.tick(clock + 10))
            if s % 50 == 0:
                store.append(f"invitation:bench-{s:07d}", None, [NewEvent(
                    "auth.failed", {"attempt": 1, "origin": "198.51.100.9",
                                    "reason": "password"},
                    Actor("helper", "unknown"), "failure", origin="198.51.100.9")],
                    now=base)
                written += 1
    return {"events": written, "sessions": sessions,
            "generate_seconds": round(time.perf_counter() - t0, 1)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench report")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--keep", type=Path, help="Generate into (or reuse) this folder.")
    parser.add_argument("--repeat", type=int, default=1,
                        help="Run the report this many times; the median is reported.")
    args = parser.parse_args(argv)
    folder = args.keep or Path(tempfile.mkdtemp(prefix="ra-bench-report-"))
    home = folder / "home"
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    database = home / "ra.db"
    made: dict[str, Any] = {}
    if not database.exists():
        print(f"generating {args.events:,} events in {args.sessions:,} sessions ...",
              file=sys.stderr)
        made = generate(database, args.events, args.sessions)
        print(f"generated {made['events']:,} events in {made['generate_seconds']} s",
              file=sys.stderr)
    out = folder / "report.html"
    runs = []
    for _ in range(args.repeat):
        out.unlink(missing_ok=True)
        runs.append(run_ra(["audit", "report", "--html", str(out)], home))
    measured = {"seconds": round(statistics.median(r[0] for r in runs), 2),
                "cpu_seconds": round(statistics.median(r[2] for r in runs), 2),
                "peak_rss_mib": round(statistics.median(r[1] for r in runs), 1),
                "runs": [[round(r[0], 2), round(r[1], 1), round(r[2], 2)] for r in runs],
                "html_mib": round(out.stat().st_size / 2**20, 1), "exit": 0}
    result = {**made, **measured, "database_mib": round(database.stat().st_size / 2**20, 1),
              "load_avg_1m": os.getloadavg()[0], "machine": machine(),
              "when": datetime.now(UTC).isoformat(timespec="seconds"),
              "command": "python -m bench report " + " ".join(argv)}
    print(f"ra audit report --html: {measured['seconds']} s (cpu "
          f"{measured['cpu_seconds']} s), peak RSS "
          f"{measured['peak_rss_mib']} MiB, report {measured['html_mib']} MiB "
          f"(log {result['database_mib']} MiB, exit {measured['exit']}; median of "
          f"{len(runs)}; {result['machine']}, load {result['load_avg_1m']:.1f})")
    print(f"targets: time {measured['seconds']} s < {TARGET_SECONDS:g} s: "
          f"{'ok' if measured['seconds'] < TARGET_SECONDS else 'MISSED'}; peak "
          f"{measured['peak_rss_mib']} MiB < {TARGET_MIB:g} MB: "
          f"{'ok' if measured['peak_rss_mib'] < TARGET_MIB else 'MISSED'}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"report-{datetime.now(UTC):%Y%m%d-%H%M%S}.json").write_text(
        json.dumps(result, indent=2) + "\n")
    return 0 if measured["exit"] == 0 else 1
