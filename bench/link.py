"""The link benchmark: the person's side and the helper's browser over a shaped link.

Run ``python -m bench link`` (as root: it makes network namespaces) or
``python -m bench link --quick``. ``--before REV`` runs every case a second
time with the ``ra`` package of git revision REV (the helper's page too), in
the same run, for a before/after table.

One *run* is one (link, workload, version), in fresh processes:

1. Xvfb 1920x1080x24 and the workload of ``bench desktop`` on it:
   ``fullscreen`` (the painter, every pixel every frame, 60 a second),
   ``terminal`` (a maximised xterm scrolling ``seq``, plus the 512x16 stamp
   window repainted 60 times a second), ``typing`` (an idle xterm, and the
   stamp window repainted 10 times a second: a small change every 100 ms,
   like a character typed). Every painted frame carries the frame-counter
   stamp (see `bench.desktop`), and the painter logs when each was painted.
2. The person's side, `ra-person` of `bench.desktop` (``ra.net.serve``, TLS +
   SPAKE2, `X11Desktop`: capture, tile codec, `Pacer`, acks), in the
   namespace ``person``.
3. The helper's side, `helper` below, in the namespace ``helper``: what
   ``ra connect`` does with the screen (``ra.net.connect``; each SCREEN body
   to the real `ViewerServer`, and ``screen.ack`` with its seq once the page
   has taken it, as `ra.session.driver` does) and the real viewer page in
   headless ``/usr/bin/chromium``. By default (``--driver cdp``) Chromium is
   started alone and driven over a bare DevTools connection that only
   evaluates JavaScript (`bench.chromium`), as a helper's own browser is not
   driven at all; ``--driver playwright`` opens the page with Playwright,
   which turns on Chromium's network reporting: Chromium then copies every
   WebSocket frame into a DevTools event, about 4 ms of its CPU per 1080p
   update. A MutationObserver in the page reads the stamp from the canvas
   after every paint and keeps (time, counter) in the page; the list is read
   once, at the end.
4. The link: the namespaces are joined by a veth pair, and the helper
   reaches the person through `shaper` (in the helper's namespace, on its
   loopback, where an nftables DNAT rule sends the invitation's address), a
   TCP relay that holds each direction to ``rate`` (bytes are
   serialised one after another at that rate) and delays them ``delay``
   seconds, with a bottleneck queue of ``max(64 KB, rate x 50 ms)``: when it
   is full, the relay stops reading and TCP pushes back. The kernel has no
   ``sch_netem``. ``loopback`` has no namespaces and no relay: 127.0.0.1.

Metrics, over ``seconds`` after ``warmup``:

- shown/s: paints on the page that showed a stamp newer than any before;
- change->shown p50 / p95: page time of that paint minus the painter's time
  after XSync for that counter (one clock: CLOCK_MONOTONIC and the page's
  ``performance.timeOrigin + now()`` are matched once in the helper). A big
  update goes in slices (``ra.desktop.pacing``) that share its seq and are
  drawn as they come; the stamp is in one of them, so the time taken is that
  of the paint that drew the *last* slice of the update(s) that showed it
  (the page lists the seqs of each paint in ``data-seqs``); the first
  slice's time is kept too (``first_slice_ms_p50``);
- link: SCREEN bytes received by the helper per second (TLS and TCP overhead
  not counted) and that as a share of the link's rate;
- CPU % per process (100 = one core): person, helper (Python), browser (all
  Chromium processes), Xvfb, painter, relay.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import inspect
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.chromium import DRIVERS, BareChromium
from bench.desktop import (
    HEIGHT,
    PY,
    RESULTS,
    ROOT,
    WIDTH,
    _cpu,
    _Procs,
    _wait_for,
    _write_json,
    log,
    machine,
)
from ra.desktop.xvfb import xvfb

LINKS = {  # name (rate, round trip): (bits per second, one-way delay in seconds); None: loopback
    "loopback": None,
    "100mbit-4ms": (100e6, 0.002),
    "20mbit-40ms": (20e6, 0.020),
    "5mbit-100ms": (5e6, 0.050),
}
WORKLOADS = ("fullscreen", "terminal", "typing")
TERMINAL_CMD = "while :; do seq 1 1000000; done"

# Reads the stamp (bench.desktop.read_stamp) after every paint of the canvas.
STAMP_JS = """
() => {
  const canvas = document.getElementById('screen');
  const ctx = canvas.getContext('2d');
  window.raBench = [];
  const read = () => {
    const w = canvas.width;
    if (w < 512) return null;
    const px = ctx.getImageData(w - 512, 4, 512, 8).data;
    let value = 0;
    for (let bit = 0; bit < 32; bit++) {
      let sum = 0, n = 0;
      for (let y = 0; y < 8; y++) for (let x = bit * 16 + 4; x < bit * 16 + 12; x++) {
        const i = (y * 512 + x) * 4; sum += px[i] + px[i + 1] + px[i + 2]; n += 3;
      }
      const mean = sum / n;
      if (mean > 64 && mean < 192) return null;
      value = (value * 2) + (mean >= 128 ? 1 : 0);
    }
    const counter = Math.floor(value / 256);
    const check = (counter ^ (counter >> 8) ^ (counter >> 16) ^ 0xA5) & 0xFF;
    return check === (value & 0xFF) ? counter : null;
  };
  new MutationObserver(() => {
    window.raBench.push([performance.timeOrigin + performance.now(), read(),
                         canvas.dataset.seqs || ""]);
  }).observe(canvas, { attributes: true, attributeFilter: ['data-seq'] });
}
"""


# --- worker: the link shaper ---------------------------------------------------------------


def shaper_main(args: argparse.Namespace) -> int:
    return asyncio.run(_shaper(args))


async def _shaper(args: argparse.Namespace) -> int:
    rate = args.rate / 8  # bytes a second
    delay = args.delay
    limit = max(64 * 1024, int(rate * 0.05))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    counts = {"down": 0, "up": 0}

    async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter, name: str) -> None:
        line: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        free = 0.0  # when the bottleneck has serialised everything given to it

        async def deliver() -> None:
            while True:
                due, data = await line.get()
                wait = due - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                if not data:
                    dst.close()
                    return
                dst.write(data)
                counts[name] += len(data)
                await dst.drain()

        task = loop.create_task(deliver())
        try:
            while True:
                now = loop.time()
                backlog = (free - now) * rate  # bytes queued at the bottleneck
                if backlog > limit:
                    await asyncio.sleep((backlog - limit) / rate)
                    continue
                data = await src.read(16384)
                now = loop.time()
                free = max(free, now) + len(data) / rate
                await line.put((free + delay, data))
                if not data:
                    break
            await task
        finally:
            task.cancel()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(args.to_host, args.to_port)
        await asyncio.gather(pipe(up_reader, writer, "down"), pipe(reader, up_writer, "up"),
                             return_exceptions=True)

    server = await asyncio.start_server(relay, "127.0.0.1", args.port)
    Path(args.ready).write_text("ready")
    await stop.wait()
    server.close()
    _write_json(args.stats, counts)
    return 0


# --- worker: the helper's side with the real page ------------------------------------------


async def open_viewer(playwright: Any, server: Any, url: str) -> tuple[Any, Any]:
    """Headless Chromium (Playwright's `Browser`) showing the viewer page of `server` at
    `url` (a `Page`, 1280x800), connected and told the screen is being viewed."""
    browser = await playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                               args=["--no-sandbox"])
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    await page.goto(url)
    await viewing(server)
    return browser, page


async def viewing(server: Any) -> None:
    """Once the page is connected, tell it the screen is being viewed."""
    await server.connected.wait()
    await server.send_json({"type": "status", "state": "viewing"})


async def page_for(driver: str, server: Any, url: str,
                   stack: contextlib.AsyncExitStack) -> Any:
    """The viewer page of `server` at `url`, viewing, in headless Chromium driven by
    `driver` (`bench.chromium.DRIVERS`); closed with `stack`. It has ``evaluate``."""
    if driver == "cdp":
        profile = stack.enter_context(tempfile.TemporaryDirectory(
            prefix="ra-bench-chromium-", ignore_cleanup_errors=True))
        page = await stack.enter_async_context(BareChromium(url, Path(profile)))
        await viewing(server)
        return page
    from playwright.async_api import async_playwright

    playwright = await stack.enter_async_context(async_playwright())
    browser, page = await open_viewer(playwright, server, url)
    stack.push_async_callback(browser.close)
    return page


async def until_true(page: Any, function: str, timeout: float) -> None:
    """Wait until the JavaScript `function` is true in `page`."""
    async with asyncio.timeout(timeout):
        while not await page.evaluate(function):
            await asyncio.sleep(0.05)


def helper_main(args: argparse.Namespace) -> int:
    return asyncio.run(_helper(args))


async def _helper(args: argparse.Namespace) -> int:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from bench.desktop import PASSWORD
    from ra.desktop.codec import peek_seq
    from ra.invitations.file import parse_invitation
    from ra.net import ConnectionClosed, HelperSigner, Kind, NetError, connect
    from ra.viewer import ViewerServer

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    invitation = parse_invitation(Path(args.invitation).read_bytes())
    channel = await connect(invitation, PASSWORD,
                            HelperSigner("bench", Ed25519PrivateKey.generate()), timeout=30)
    server = ViewerServer(lambda _message: None)
    url = await server.start()
    received: list[tuple[int, int]] = []  # (monotonic ns, SCREEN body bytes)

    # As ra.session.driver does: the ack once the page has taken the update, or (ra
    # before it did so: `--before` an older revision) as soon as it arrives.
    acks: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    when_taken = "taken" in inspect.signature(server.send_screen).parameters

    def taken(seq: int, shown: bool) -> None:
        acks.put_nowait({"type": "screen.ack", "seq": seq} if shown
                        else {"type": "screen.ack", "seq": seq, "superseded": True})

    async def receive() -> None:
        while True:
            frame = await channel.recv()
            if frame.kind is not Kind.SCREEN:
                continue
            received.append((time.monotonic_ns(), len(frame.body)))
            seq = peek_seq(frame.body)
            if when_taken:
                await server.send_screen(frame.body, functools.partial(taken, seq))
            else:
                await server.send_screen(frame.body)
                taken(seq, True)

    async def acknowledge() -> None:
        while True:
            await channel.send_json(await acks.get())

    async with contextlib.AsyncExitStack() as stack:
        page = await page_for(args.driver, server, url, stack)
        await page.evaluate(STAMP_JS)
        task = loop.create_task(receive())
        acker = loop.create_task(acknowledge())
        await until_true(
            page, "() => Number(document.getElementById('screen').dataset.frames || 0) > 0",
            60)
        Path(args.ready).write_text("ready")
        stopper = loop.create_task(stop.wait())
        await asyncio.wait([task, stopper], return_when=asyncio.FIRST_COMPLETED)
        error = None
        if task.done() and not task.cancelled() and task.exception() is not None:
            error = repr(task.exception())
        offset_ns = time.time_ns() - time.monotonic_ns()
        shown = await page.evaluate("() => window.raBench")
        counters = await page.evaluate("""() => {
            const d = document.getElementById('screen').dataset;
            return {received: +d.received || 0, frames: +d.frames || 0, shown: +d.shown || 0,
                    superseded: +d.superseded || 0};
        }""")
        task.cancel()
        acker.cancel()
        stopper.cancel()
    with contextlib.suppress(NetError, ConnectionClosed, OSError):
        await channel.close("done")
    await server.close()
    paints = [(int(t * 1e6) - offset_ns, c, seqs) for t, c, seqs in shown]  # ms -> mono ns
    _write_json(args.out, {"paints": paints, "received": received, "page": counters,
                           "error": error})
    return 0


# --- the orchestrator ------------------------------------------------------------------------


class _LinkProcs(_Procs):
    """`bench.desktop`'s processes, started in `cwd`: ``python -m`` puts it first on the
    path, so the ``ra`` found there (an older revision's) wins over this tree's."""

    def __init__(self, tmp: Path, cwd: Path) -> None:
        super().__init__(tmp)
        self.cwd = cwd

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None
              ) -> subprocess.Popen[bytes]:
        err = open(self.tmp / f"{name}.err", "wb")  # noqa: SIM115 - closed with the run
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, cwd=self.cwd,
                                env=env or os.environ.copy())
        err.close()
        self.procs.append((name, proc))
        return proc


def _descendants_cpu(pid: int) -> dict[str, float]:
    import psutil

    out = {"browser": 0.0, "playwright": 0.0}
    with contextlib.suppress(psutil.Error):
        for child in psutil.Process(pid).children(recursive=True):
            with contextlib.suppress(psutil.Error):
                t = child.cpu_times()
                name = child.name()
                key = "browser" if "chrom" in name else "playwright"
                out[key] += t.user + t.system
    return out


def run_one(link: str, workload: str, version: str, pythonpath: str, cfg: argparse.Namespace,
            tmp: Path, worker: str = "bench.link") -> dict[str, Any]:
    """One run; `worker` is the module whose workers (person, helper, shaper) run it."""
    sys.path.insert(0, str(ROOT / "tests"))
    from netns_support import nft, two_machines  # type: ignore[import-not-found]

    tmp.mkdir(parents=True)
    procs = _LinkProcs(tmp, Path(pythonpath.split(":")[0]))
    env = {**os.environ, "PYTHONPATH": pythonpath}
    stack = contextlib.ExitStack()
    try:
        screen = stack.enter_context(xvfb(WIDTH, HEIGHT))
        xenv = {**screen.env(), "PYTHONPATH": pythonpath}
        pids = {"xvfb": screen.pid}
        if workload in ("terminal", "typing"):
            cmd = TERMINAL_CMD if workload == "terminal" else "cat"
            xterm = procs.start("xterm", ["xterm", "-maximized", "-fa", "DejaVu Sans Mono",
                                          "-fs", "12", "-e", "bash", "-c", cmd], env=xenv)
            pids["xterm"] = xterm.pid
            time.sleep(1.0)
        mode = "shift" if workload == "fullscreen" else "stamp"
        fps = "10" if workload == "typing" else "60"
        painter = procs.start("paint", [PY, "-m", "bench.desktop", "paint", "--display",
                                        screen.name, "--mode", mode, "--fps", fps, "--log",
                                        str(tmp / "paint.json"), "--ready",
                                        str(tmp / "paint.ready")], env=xenv)
        _wait_for(tmp / "paint.ready", painter, "the painter", 60)
        pids["paint"] = painter.pid
        shaped = LINKS[link]
        wrap_p: list[str] = []
        wrap_h: list[str] = []
        host = "127.0.0.1"
        if shaped is not None:
            pair = stack.enter_context(two_machines())
            wrap_p, wrap_h = pair.person.argv(), pair.helper.argv()
            host = pair.person.address
            # Xvfb's abstract socket is not seen from another namespace; its file is.
        person = procs.start("person", [*wrap_p, PY, "-m", worker, "person",
                                        "--display", screen.name, "--home", str(tmp / "home"),
                                        "--invitation", str(tmp / "invitation"), "--stats",
                                        str(tmp / "person.json"), "--host", host], env=xenv)
        _wait_for(tmp / "invitation", person, "ra's person side", 60)
        pids["person"] = person.pid
        if shaped is not None:
            port = 47000 + os.getpid() % 1000
            port_file = tmp / "invitation.port"
            relay = procs.start("relay", [*wrap_h, PY, "-m", worker, "shaper", "--port",
                                          str(port), "--to-host", host, "--to-port",
                                          port_file.read_text().strip(), "--rate",
                                          str(shaped[0]), "--delay", str(shaped[1]),
                                          "--ready", str(tmp / "relay.ready"), "--stats",
                                          str(tmp / "relay.json")], env=env)
            _wait_for(tmp / "relay.ready", relay, "the link shaper")
            pids["relay"] = relay.pid
            # The helper dials the invitation's address (127.0.0.1, as `bench desktop` makes
            # it); in its namespace that goes to the relay.
            nft(pair.helper, f"""
table ip rabench {{
    chain output {{
        type nat hook output priority -100; policy accept;
        ip daddr 127.0.0.1 tcp dport {port_file.read_text().strip()} dnat to 127.0.0.1:{port}
    }}
}}
""")
        helper = procs.start("helper", [*wrap_h, PY, "-m", worker, "helper",
                                        "--invitation", str(tmp / "invitation"), "--out",
                                        str(tmp / "helper.json"), "--ready",
                                        str(tmp / "helper.ready"), "--driver", cfg.driver],
                             env=env)
        _wait_for(tmp / "helper.ready", helper, "the helper's page", 120)
        pids["helper"] = helper.pid
        time.sleep(cfg.warmup)
        cpu0, sub0, t0 = _cpu(pids), _descendants_cpu(helper.pid), time.monotonic_ns()
        time.sleep(cfg.seconds)
        cpu1, sub1, t1 = _cpu(pids), _descendants_cpu(helper.pid), time.monotonic_ns()
        for name in ("helper", "person", "relay", "paint", "xterm"):
            procs.stop(name, timeout=30)
        wall = (t1 - t0) / 1e9
        cpu = {k: round(100 * (cpu1[k] - cpu0[k]) / wall, 1) for k in cpu1 if k in cpu0}
        cpu.update({k: round(100 * (sub1[k] - sub0[k]) / wall, 1) for k in sub1})
        out = json.loads((tmp / "helper.json").read_text())
        paint = json.loads((tmp / "paint.json").read_text())
        person_stats = {}
        if (tmp / "person.json").exists():
            person_stats = json.loads((tmp / "person.json").read_text())
        sample = measure(out, paint, t0, t1, None if shaped is None else shaped[0] / 8)
        sample.update(link=link, workload=workload, version=version, cpu_percent=cpu,
                      person_stats=person_stats, helper_error=out.get("error"),
                      page=out.get("page"))
        return sample
    except Exception:
        for name in ("person", "helper", "relay", "paint"):
            if text := procs.err(name):
                log(f"--- {name} stderr ---\n{text}")
        raise
    finally:
        procs.stop_all()
        stack.close()


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))], 1)


def complete(paints: list[tuple[int, int | None, set[int]]], i: int) -> int:
    """When the update(s) drawn by paint `i` were drawn whole: the last later paint that
    drew a slice of one of them (slices of an update share its seq; see ra.desktop.pacing).
    Pages without the seqs (older revisions, which never slice) give paint `i`'s time."""
    t, _counter, seqs = paints[i]
    for later, _c, drawn in paints[i + 1 : i + 200]:
        if later > paints[i][0] + 1_000_000_000:
            break  # a second on: not slices of the same update
        if drawn & seqs:
            t = later
    return t


def measure(out: dict[str, Any], paint: dict[str, Any], t0: int, t1: int,
            rate: float | None) -> dict[str, Any]:
    wall = (t1 - t0) / 1e9
    painted = {c: after for c, _before, after in paint["frames"]}
    latencies: list[float] = []
    firsts: list[float] = []
    last = -1
    paints = [(t, c, {int(s) for s in str(rest[0] if rest else "").split(",") if s})
              for t, c, *rest in out["paints"]]
    for i, (t, counter, _seqs) in enumerate(paints):
        if counter is None or counter <= last:
            continue
        last = counter
        if t0 <= t < t1 and counter in painted:
            firsts.append((t - painted[counter]) / 1e6)
            latencies.append((complete(paints, i) - painted[counter]) / 1e6)
    link_bytes = sum(n for t, n in out["received"] if t0 <= t < t1)
    return {
        "shown_per_s": round(len(latencies) / wall, 2),
        "painted_per_s": round(sum(1 for _c, _b, a in paint["frames"] if t0 <= a < t1) / wall,
                               1),
        "latency_ms_p50": _pct(latencies, 50),
        "latency_ms_p95": _pct(latencies, 95),
        "first_slice_ms_p50": _pct(firsts, 50),
        "link_mbit_s": round(link_bytes * 8 / wall / 1e6, 2),
        "link_use": None if rate is None else round(link_bytes / wall / rate, 3),
        "updates_per_s": round(sum(1 for t, _n in out["received"] if t0 <= t < t1) / wall, 1),
        "stamp_unread": sum(1 for t, c, _s in paints if c is None and t0 <= t < t1),
        "latencies_ms": [round(x, 1) for x in latencies],  # each frame shown, in order
    }


def markdown(samples: list[dict[str, Any]]) -> str:
    lines = ["| link | workload | version | shown/s (painted/s) | change→shown p50 / p95 ms "
             "| link Mbit/s (use) | CPU % person / helper / browser / Xvfb |",
             "|---|---|---|---|---|---|---|"]
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for s in samples:
        groups.setdefault((s["link"], s["workload"], s["version"]), []).append(s)

    def med(runs: list[dict[str, Any]], key: str) -> Any:
        values = [r[key] for r in runs if r.get(key) is not None]
        return round(statistics.median(values), 2) if values else None

    def cpu(runs: list[dict[str, Any]], key: str) -> str:
        values = [r["cpu_percent"].get(key) for r in runs if key in r["cpu_percent"]]
        return "-" if not values else f"{statistics.median(values):.0f}"

    for (link, workload, version), runs in groups.items():
        use = med(runs, "link_use")
        lines.append(
            f"| {link} | {workload} | {version} | {med(runs, 'shown_per_s')} "
            f"({med(runs, 'painted_per_s')}) | {med(runs, 'latency_ms_p50')} / "
            f"{med(runs, 'latency_ms_p95')} | {med(runs, 'link_mbit_s')}"
            f"{'' if use is None else f' ({use:.0%})'} | {cpu(runs, 'person')} / "
            f"{cpu(runs, 'helper')} / {cpu(runs, 'browser')} / {cpu(runs, 'xvfb')} |")
    return "\n".join(lines)


def _old_tree(rev: str, into: Path) -> Path:
    """The `ra` package of git revision `rev`, alone (bench stays this tree's)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev, "ra"],
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def compared(before: str | None, tmp: Path) -> list[tuple[str, str]]:
    """The versions a run compares, (name, PYTHONPATH): this tree, and with `before` also
    the ``ra`` of that git revision (put in `tmp`) ahead of this tree's bench."""
    versions = [("after", str(ROOT))]
    if before:
        old = _old_tree(before, tmp / "before")
        versions.append((f"before ({before})", f"{old}:{ROOT}"))
    return versions


def cases_parser(prog: str, doc: str | None, *, rounds: int, seconds: float, warmup: float,
                 links: str) -> argparse.ArgumentParser:
    """The options every benchmark of (link, workload) cases takes, with its defaults."""
    parser = argparse.ArgumentParser(prog=prog, description=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--seconds", type=float, default=seconds)
    parser.add_argument("--warmup", type=float, default=warmup)
    parser.add_argument("--links", default=links)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--driver", choices=DRIVERS, default="cdp",
                        help="how the helper's Chromium is driven: cdp (bare, as a helper's "
                        "own browser; the default) or playwright")
    return parser


def main(argv: list[str]) -> int:
    parser = cases_parser("python -m bench link", __doc__, rounds=3, seconds=20.0, warmup=4.0,
                          links=",".join(LINKS))
    parser.add_argument("--before", default=None, metavar="REV",
                        help="also run each case with the ra package of git revision REV")
    parser.add_argument("--quick", action="store_true", help="1 round of 8 s")
    parser.add_argument("--out", default=None)
    cfg = parser.parse_args(argv)
    links = cfg.links.split(",")
    unknown = [name for name in links if name not in LINKS]
    if unknown or any(w not in WORKLOADS for w in cfg.workloads.split(",")):
        print(f"bench link: unknown link or workload (links: {', '.join(LINKS)}; "
              f"workloads: {', '.join(WORKLOADS)})", file=sys.stderr)
        return 2
    if any(LINKS[name] for name in links) and os.geteuid() != 0:
        print("bench link: shaped links need root (network namespaces)", file=sys.stderr)
        return 2
    if cfg.quick:
        cfg.rounds, cfg.seconds = 1, 8.0
    RESULTS.mkdir(exist_ok=True)
    samples: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ra-bench-link-") as tmpdir:
        versions = compared(cfg.before, Path(tmpdir))
        for rnd in range(cfg.rounds):
            for link in links:
                for workload in cfg.workloads.split(","):
                    for version, path in versions:
                        log(f"round {rnd + 1}/{cfg.rounds}: {link} / {workload} / {version}")
                        sample = run_one(link, workload, version, path, cfg,
                                         Path(tmpdir) / f"{rnd}-{link}-{workload}-{len(samples)}")
                        sample["round"] = rnd
                        samples.append(sample)
                        log("  " + json.dumps({k: sample[k] for k in (
                            "shown_per_s", "latency_ms_p50", "latency_ms_p95", "link_mbit_s",
                            "link_use", "cpu_percent", "page")}))
    result = {"suite": "link", "date": datetime.now(UTC).isoformat(timespec="seconds"),
              "command": "python -m bench link " + " ".join(argv),
              "config": {"rounds": cfg.rounds, "seconds": cfg.seconds, "warmup": cfg.warmup,
                         "links": {k: LINKS[k] for k in links},
                         "screen": f"{WIDTH}x{HEIGHT}x24"},
              "machine": machine(), "samples": samples}
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    suffix = "-quick" if cfg.quick else ""
    out = Path(cfg.out) if cfg.out else RESULTS / f"link-{date}{suffix}.json"
    out.write_text(json.dumps(result, indent=1))
    print(markdown(samples))
    print(f"\nresults: {out}")
    return 0


# --- entry point for the workers: python -m bench.link <worker> ... ---------------------------


def person_main(args: argparse.Namespace) -> int:
    """`bench.desktop`'s ra-person, listening on `--host`; its port also in a file."""
    import ra.net as net

    real_serve = net.serve

    async def serve_on(host: str, port: int, *a: Any, **kw: Any) -> Any:
        server = await real_serve(args.host, port, *a, **kw)
        Path(args.invitation + ".port").write_text(str(server.sockets[0].getsockname()[1]))
        return server

    net.serve = serve_on  # type: ignore[assignment]
    from bench.desktop import ra_person_main

    return ra_person_main(args)


def _worker(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.link")
    sub = parser.add_subparsers(dest="worker", required=True)
    p = sub.add_parser("shaper")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--to-host", required=True)
    p.add_argument("--to-port", type=int, required=True)
    p.add_argument("--rate", type=float, required=True, help="bits a second")
    p.add_argument("--delay", type=float, required=True, help="seconds, one way")
    p.add_argument("--ready", required=True)
    p.add_argument("--stats", required=True)
    p = sub.add_parser("helper")
    p.add_argument("--invitation", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--ready", required=True)
    p.add_argument("--driver", choices=DRIVERS, default="cdp")
    p = sub.add_parser("person")
    p.add_argument("--display", required=True)
    p.add_argument("--home", required=True)
    p.add_argument("--invitation", required=True)
    p.add_argument("--stats", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--profile", default="")
    p.add_argument("--record", action="store_true", help="record the screen, as ra ask can")
    args = parser.parse_args(argv)
    return {"shaper": shaper_main, "helper": helper_main, "person": person_main}[args.worker](args)


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1:]))
