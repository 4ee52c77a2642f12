"""The helper's page alone: how many full-screen updates it shows a second, and at what CPU.

Run ``python -m bench page`` (``--before REV`` also runs every round with the ``ra``
package, page included, of git revision REV, in the same run, for a before/after table).

`bench link` measures the whole chain (capture, codec, pacer, link, page) and on a
small machine the person's side competes with the browser for the same cores, so it
cannot say what the page alone can do. Here nothing runs but the real `ViewerServer`,
the real viewer page in headless ``/usr/bin/chromium`` and a feeder in the same
process: 30 full-screen updates of a photo-like 1920x1080 picture (browser-safe
`TileEncoder`, quality 70: 17 JPEG strips, about 200 KB each) encoded once, then
handed to the server ``rate`` times a second (`ViewerServer.send_screen`; the server
merges what the page is too slow for, as it does live). A MutationObserver reads
512x8 pixels of the canvas after every paint, as `bench link` does to find its stamp.

``--drivers`` says how Chromium is driven (each round runs each; the page comes from
`bench.link.page_for`, as in `bench link`): ``cdp`` (the default) starts it alone
(headless, a 1280x800 viewport, Playwright's switches that keep a hidden page from
being throttled) and reads the page's counters over a bare DevTools connection that
only evaluates them, so Chromium pays what a helper's own browser pays;
``playwright`` opens the page with Playwright, as the tests do. Playwright turns on
DevTools' network reporting, and Chromium then copies every WebSocket message, each
screen update included, into a DevTools event: CPU that no helper's browser spends.

Metrics over ``seconds`` after 3 s of warm-up, from the page's own counters
(``data-received``, ``data-shown``, ``data-superseded`` of the canvas) and the CPU
time of every Chromium process: updates received and paints a second (a paint here
shows one or more whole full-screen updates), tiles dropped as superseded a second,
Chromium CPU % (100 = one core) and Chromium CPU ms per update received.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.chromium import DRIVERS
from bench.desktop import HEIGHT, PY, WIDTH, _photo, log
from bench.link import compared, page_for

COUNTERS_JS = """() => {
  const d = document.getElementById('screen').dataset;
  return [+d.received || 0, +d.shown || 0, +d.superseded || 0];
}"""
READ_JS = """() => {
  const canvas = document.getElementById('screen');
  const ctx = canvas.getContext('2d');
  new MutationObserver(() => ctx.getImageData(canvas.width - 512, 4, 512, 8))
    .observe(canvas, { attributes: true, attributeFilter: ['data-seq'] });
}"""


def _chromium_cpu() -> float:
    import psutil

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            if "chrom" in child.name():
                times = child.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            continue
    return total


async def _run(seconds: float, rate: float, driver: str) -> dict[str, Any]:
    import numpy as np

    from ra.desktop.codec import TileEncoder
    from ra.viewer import ViewerServer

    encoder = TileEncoder(WIDTH, HEIGHT, browser_safe=True)
    wide = _photo(WIDTH + 64, HEIGHT)
    updates = [encoder.encode(np.ascontiguousarray(wide[:, 2 * i:2 * i + WIDTH]),
                              quality=70).to_bytes() for i in range(31)][1:]
    server = ViewerServer(lambda _message: None)
    url = await server.start()
    stop = asyncio.Event()

    async def feed() -> None:
        due = time.monotonic()
        i = 0
        while not stop.is_set():
            await server.send_screen(updates[i % len(updates)])
            i += 1
            due += 1 / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))

    async def measure(evaluate: Any) -> tuple[Any, ...]:
        await evaluate(READ_JS)
        feeder = asyncio.create_task(feed())
        await asyncio.sleep(3.0)
        before, cpu0, t0 = await evaluate(COUNTERS_JS), _chromium_cpu(), time.monotonic()
        await asyncio.sleep(seconds)
        after, cpu1, t1 = await evaluate(COUNTERS_JS), _chromium_cpu(), time.monotonic()
        stop.set()
        await feeder
        return before, after, cpu0, cpu1, t0, t1

    try:
        async with contextlib.AsyncExitStack() as stack:
            page = await page_for(driver, server, url, stack)
            before, after, cpu0, cpu1, t0, t1 = await measure(page.evaluate)
    finally:
        await server.close()
    wall = t1 - t0
    received, paints, superseded = (b - a for a, b in zip(before, after, strict=True))
    return {
        "received_per_s": round(received / wall, 1),
        "paints_per_s": round(paints / wall, 1),
        "superseded_tiles_per_s": round(superseded / wall, 1),
        "chromium_cpu_percent": round(100 * (cpu1 - cpu0) / wall),
        "chromium_cpu_ms_per_update": round(1000 * (cpu1 - cpu0) / max(1, received), 1),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench page", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rate", type=float, default=60.0, help="updates handed over a second")
    parser.add_argument("--before", default=None, metavar="REV",
                        help="also run each round with the ra package of git revision REV")
    parser.add_argument("--drivers", default="cdp",
                        help="how Chromium is driven, comma-separated: cdp, playwright")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    cfg = parser.parse_args(argv)
    drivers = [d.strip() for d in cfg.drivers.split(",") if d.strip()]
    if not drivers or any(d not in DRIVERS for d in drivers):
        parser.error(f"--drivers: a comma-separated list of {', '.join(DRIVERS)}")
    if cfg.one:  # a worker: one run with the ra found first on the path
        print(json.dumps(asyncio.run(_run(cfg.seconds, cfg.rate, drivers[0]))))
        return 0
    samples: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="ra-bench-page-") as tmpdir:
        versions = compared(cfg.before, Path(tmpdir))
        cases = [(f"{version}, {driver}" if len(drivers) > 1 else version, path, driver)
                for driver in drivers for version, path in versions]
        for rnd in range(cfg.rounds):
            for version, path, driver in cases:
                log(f"round {rnd + 1}/{cfg.rounds}: {version}")
                done = subprocess.run(
                    [PY, "-m", "bench.page", "--one", "--seconds", str(cfg.seconds),
                     "--rate", str(cfg.rate), "--drivers", driver], cwd=path.split(":")[0],
                    capture_output=True, env={**os.environ, "PYTHONPATH": path}, text=True,
                    timeout=300)
                if done.returncode != 0:
                    print(done.stderr[-2000:], file=sys.stderr)
                    return 1
                sample = json.loads(done.stdout.strip().splitlines()[-1])
                log("  " + json.dumps(sample))
                samples.setdefault(version, []).append(sample)
    keys = list(next(iter(samples.values()))[0])
    print("| version | " + " | ".join(keys) + " |")
    print("|---|" + "---|" * len(keys))
    for version, runs in samples.items():
        cells = [str(round(statistics.median(run[k] for run in runs), 1)) for k in keys]
        print(f"| {version} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
