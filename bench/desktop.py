"""The desktop benchmark: screen out and input in, ra beside x11vnc, on one Xvfb.

Run ``python -m bench desktop`` (3 rounds x 2 workloads x 2 systems, about
10 minutes) or ``python -m bench desktop --quick`` (1 round, short runs).
``python -m bench desktop --profile`` runs ra's person side alone on the
full-screen workload under cProfile, with timing splits of capture/encode.
``--recording on|off|both`` runs ra with its screen recording on (system
``ra-rec``), off (``ra``) or both, interleaved in each round
(``python -m bench recording`` does that and sets the two side by side).

One *run* is one (round, workload, system), all in fresh processes:

1. Xvfb 1920x1080x24 on a free display.
2. The workload:
   ``fullscreen``  `paint` repaints the whole root window 60 times a second
                   (one XPutImage through libX11 via ctypes, ~3 ms) with a
                   smooth photo-like image shifted 8 px per frame, so every
                   64x64 cell changes every frame;
   ``terminal``    an xterm, maximised, running ``while :; do seq 1 1000000;
                   done``, plus `paint --mode stamp`: a 512x16 override-redirect
                   window in the top-right corner repainted 60 times a second;
   ``noise``       (not in the default set) like fullscreen with random noise.
   Every painted frame carries a *stamp*: frame counter (24 bits) and a check
   byte as 32 black/white 16x16 blocks at the top right (x 1408..1919, y
   0..15). The painter logs, per counter, ``time.monotonic_ns()`` just before
   the XPutImage and just after the XSync that follows it (CLOCK_MONOTONIC is
   system-wide on Linux, so all processes share the clock).
3. `probe`: a 256x256 override-redirect window at the bottom left selecting
   MotionNotify and KeyPress, logging each event's root x/y and arrival time.
4. The system under test, person side:
   ``ra``      `ra-person`: `ra.net.serve` with a throwaway identity and
               invitation (TLS 1.3 + SPAKE2 on 127.0.0.1) and, per session,
               `ra.session.desktop.X11Desktop` (capture -> TileEncoder
               browser_safe -> Pacer -> SCREEN frames; acks drive the pacer),
               input enabled. Input messages go ``channel.recv()`` ->
               `ra.engine.messages.parse` / `parse_input` (the checks the engine
               makes) -> `X11Desktop.inject` (XTEST + sync), as the session driver
               does; the engine's state machine and the event log are skipped.
   ``ra-rec``  ``ra`` with the screen recorded as `ra ask` records it
               (`ra.recording.recorder.ScreenRecorder`, a key from the
               keystore, each chunk's ``recording.chunk`` event appended to
               the log on the loop); its folder's size over the session's
               length is *disk MB/min*.
   ``x11vnc``  ``x11vnc -display :N -rfbport P -localhost -nopw -shared
               -forever -ncache 0 -quiet`` (everything else default: XDAMAGE
               hints on, -wait 20, -defer 20), see X11VNC_ARGS.
5. The helper client, in its own process:
   ``ra``      `ra-client`: `ra.net.connect`; for each SCREEN frame,
               `TileDecoder.apply` (in a worker thread, so input keeps
               flowing), read the stamp from the framebuffer, then send
               ``{"type": "screen.ack", "seq": N}`` as `ra.session.driver` does.
   ``x11vnc``  `rfb-client`: `bench.rfb.RFBClient`, Raw encoding, one
               incremental whole-screen request after each complete update.
   Both send a pointer motion 30 times a second (another thread / task) to
   a fresh position inside the probe window, logging the send time.
6. After the client's first decoded update, ``warmup`` seconds pass; then
   CPU times of every process are read (psutil), ``seconds`` pass, and they
   are read again. Only events inside that window are counted.

Metrics (per run; the tables show the median of the rounds, with min-max):

- updates/s: updates (with at least one rectangle) decoded by the client;
- frames/s: distinct new stamps seen by the client (painted frames delivered);
- bytes/update: wire bytes of the update message (ra: SCREEN body; RFB: the
  FramebufferUpdate message), TLS and TCP overhead not counted;
- coverage: pixels per update / screen pixels; big updates/s: updates covering
  more than half the screen;
- change->decoded: for every update that shows a stamp newer than any seen
  before, client time after decode minus the painter's time after XSync for
  that counter (p50, p99);
- input->injected: probe arrival time minus client send time, matched by
  position (p50, p99), and how many never arrived;
- CPU %: user+system seconds / wall seconds, per process (100 = one core).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import json
import os
import platform
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from ra.desktop.xvfb import xvfb

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
PY = sys.executable

WIDTH, HEIGHT = 1920, 1080
RAW_BYTES = WIDTH * HEIGHT * 4
BLOCK = 16
STAMP_BITS = 32
STAMP_W = BLOCK * STAMP_BITS
PROBE = (0, HEIGHT - 256, 256, 256)  # x, y, w, h
PASSWORD = "Tq7mK-w9Zp2-Hx4rB-c8Nd3"
SYSTEMS = ("ra", "x11vnc")
WORKLOADS = ("fullscreen", "terminal")
X11VNC_ARGS = ("-localhost", "-nopw", "-shared", "-forever", "-ncache", "0", "-quiet")
TERMINAL_CMD = "while :; do seq 1 1000000; done"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the stamp ---------------------------------------------------------------------------


def _check(counter: int) -> int:
    return (counter ^ (counter >> 8) ^ (counter >> 16) ^ 0xA5) & 0xFF


def stamp_pixels(counter: int) -> np.ndarray:
    """(16, 512, 4) BGRX: 24 counter bits then 8 check bits, MSB first, white = 1."""
    value = ((counter & 0xFFFFFF) << 8) | _check(counter & 0xFFFFFF)
    bits = np.array([(value >> (31 - i)) & 1 for i in range(STAMP_BITS)], dtype=np.uint8)
    row = np.repeat(bits * 255, BLOCK)
    out = np.empty((BLOCK, STAMP_W, 4), dtype=np.uint8)
    out[:] = row[None, :, None]
    return out


def read_stamp(fb: np.ndarray, width: int = WIDTH) -> int | None:
    """The counter stamped at the top right of `fb`, or None (torn, lossy or absent)."""
    region = fb[4:12, width - STAMP_W : width, :3].reshape(8, STAMP_BITS, BLOCK, 3)
    means = region[:, :, 4:12, :].mean(axis=(0, 2, 3))
    if np.any((means > 64) & (means < 192)):
        return None
    value = 0
    for bit in (means >= 128).tolist():
        value = (value << 1) | int(bit)
    counter = value >> 8
    return counter if _check(counter) == value & 0xFF else None


# --- libX11 through ctypes (python-xlib needs ~28 ms per full-screen PutImage) -----------


def _libx11() -> Any:
    x11 = ctypes.CDLL("libX11.so.6")
    vp, ul, i, ui = ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_uint
    x11.XOpenDisplay.argtypes, x11.XOpenDisplay.restype = [ctypes.c_char_p], vp
    x11.XDefaultScreen.argtypes = [vp]
    x11.XRootWindow.argtypes, x11.XRootWindow.restype = [vp, i], ul
    x11.XDefaultVisual.argtypes, x11.XDefaultVisual.restype = [vp, i], vp
    x11.XDefaultGC.argtypes, x11.XDefaultGC.restype = [vp, i], vp
    x11.XCreateImage.argtypes = [vp, vp, ui, i, i, vp, ui, ui, i, i]
    x11.XCreateImage.restype = vp
    x11.XPutImage.argtypes = [vp, ul, vp, vp, i, i, i, i, ui, ui]
    x11.XSync.argtypes = [vp, i]
    return x11


def _photo(width: int, height: int, seed: int = 1) -> np.ndarray:
    """A smooth, photo-like BGRX image with some grain (JPEG-friendly, unlike noise)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    chans = [
        128 + 60 * np.cos(xx / 89 + yy / 31) + 40 * np.sin((xx + yy) / 19),
        128 + 60 * np.sin(xx / 53 - yy / 67) + 40 * np.cos(yy / 29 + xx / 37),
        128 + 60 * np.sin(xx / 71 + yy / 97) + 40 * np.sin(xx / 23 - yy / 41),
    ]
    img = np.zeros((height, width, 4), dtype=np.uint8)
    for c, chan in enumerate(chans):
        chan += rng.normal(0, 6, chan.shape).astype(np.float32)
        img[:, :, c] = np.clip(chan, 0, 255).astype(np.uint8)
    return img


class _Stop:
    """Set by SIGTERM/SIGINT: workers end their loop and write their log."""

    def __init__(self) -> None:
        self.flag = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: self.flag.set())
        signal.signal(signal.SIGINT, lambda *_: self.flag.set())


def _write_json(path: str, data: Any) -> None:
    tmp = f"{path}.tmp"
    Path(tmp).write_text(json.dumps(data))
    os.replace(tmp, path)


def _touch(path: str) -> None:
    Path(path).write_text("ready")


# --- worker: the painter -------------------------------------------------------------------


def paint_main(args: argparse.Namespace) -> int:
    stop = _Stop()
    x11 = _libx11()
    d = x11.XOpenDisplay(args.display.encode())
    if not d:
        raise SystemExit(f"cannot open {args.display}")
    scr = x11.XDefaultScreen(d)
    gc = x11.XDefaultGC(d, scr)
    shift = 8
    frames = 120
    if args.mode == "stamp":
        from Xlib import X  # type: ignore[import-untyped]
        from Xlib import display as xdisplay

        xd = xdisplay.Display(args.display)
        win = xd.screen().root.create_window(
            WIDTH - STAMP_W, 0, STAMP_W, BLOCK, 0, xd.screen().root_depth,
            X.InputOutput, X.CopyFromParent, override_redirect=True, background_pixel=0,
        )
        win.map()
        xd.sync()
        target, w, h, x0 = win.id, STAMP_W, BLOCK, 0
        buf = np.zeros((h, w, 4), dtype=np.uint8)
    else:
        target, w, h, x0 = x11.XRootWindow(d, scr), WIDTH, HEIGHT, WIDTH - STAMP_W
        buf = np.zeros((h, w, 4), dtype=np.uint8)
        if args.mode == "noise":
            rng = np.random.default_rng(2)
            noise = [rng.integers(0, 256, (h, w, 4), dtype=np.uint8) for _ in range(16)]
        else:
            base = _photo(w + shift * frames, h)
    image = x11.XCreateImage(d, x11.XDefaultVisual(d, scr), 24, 2, 0, buf.ctypes.data,
                             w, h, 32, 0)
    period_ns = int(1e9 / args.fps)
    counter, skipped = 0, 0
    log_rows: list[tuple[int, int, int]] = []
    start = time.monotonic_ns()
    due = start
    while not stop.flag.is_set():
        now = time.monotonic_ns()
        if now < due:
            time.sleep((due - now) / 1e9)
        elif now > due + period_ns:  # behind: drop the missed slots, keep the cadence
            missed = (now - due) // period_ns
            skipped += missed
            due += missed * period_ns
        counter += 1
        if args.mode == "shift":
            off = (counter % frames) * shift
            np.copyto(buf, base[:, off : off + w])
        elif args.mode == "noise":
            np.copyto(buf, noise[counter % len(noise)])
        buf[0:BLOCK, x0 : x0 + STAMP_W] = stamp_pixels(counter)
        before = time.monotonic_ns()
        x11.XPutImage(d, target, gc, image, 0, 0, 0, 0, w, h)
        x11.XSync(d, 0)
        after = time.monotonic_ns()
        log_rows.append((counter, before, after))
        if counter == 1:
            _touch(args.ready)
        due += period_ns
    _write_json(args.log, {"frames": log_rows, "skipped": skipped})
    return 0


# --- worker: the input probe -----------------------------------------------------------------


def probe_main(args: argparse.Namespace) -> int:
    from Xlib import X
    from Xlib import display as xdisplay

    stop = _Stop()
    d = xdisplay.Display(args.display)
    root = d.screen().root
    x, y, w, h = PROBE
    win = root.create_window(
        x, y, w, h, 0, d.screen().root_depth, X.InputOutput, X.CopyFromParent,
        override_redirect=True, background_pixel=d.screen().black_pixel,
        event_mask=X.PointerMotionMask | X.KeyPressMask,
    )
    win.map()
    d.sync()
    _touch(args.ready)
    rows: list[tuple[int, int, int, int]] = []  # type (6 motion, 2 key), x, y, t
    fd = d.fileno()
    while not stop.flag.is_set():
        if not d.pending_events():
            with contextlib.suppress(InterruptedError):
                select.select([fd], [], [], 0.2)
        while d.pending_events():
            event = d.next_event()
            t = time.monotonic_ns()
            if event.type in (X.MotionNotify, X.KeyPress):
                rows.append((event.type, event.root_x, event.root_y, t))
    _write_json(args.log, {"events": rows})
    return 0


def _probe_position(i: int) -> tuple[int, int]:
    """The i-th pointer target: inside the probe window, never the same twice in a run."""
    px, py, pw, ph = PROBE
    return px + 8 + i % (pw - 16), py + 8 + (i // (pw - 16)) % (ph - 16)


# --- worker: ra's person side ------------------------------------------------------------------


def ra_person_main(args: argparse.Namespace) -> int:
    return asyncio.run(_ra_person(args))


async def _ra_person(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from ra.engine import messages as msg
    from ra.home import Home
    from ra.identity import load_identity
    from ra.invitations.file import new_invitation, sign_invitation
    from ra.invitations.keystore import derive_pake_secret
    from ra.net import Channel, InvitationSecret, Kind, serve
    from ra.session.desktop import X11Desktop

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    identity = load_identity(Home.at(args.home))
    secrets: dict[str, InvitationSecret] = {}
    stats: dict[str, Any] = {}
    profiler = _Profiled() if args.profile else None
    desktop_cls = profiler.desktop_class() if profiler else X11Desktop

    async def secret_for(invitation_id: str) -> InvitationSecret:
        return secrets[invitation_id]

    async def session(channel: Channel, _id: str, _origin: str) -> None:
        async def send_screen(data: bytes) -> None:
            await channel.send_frame(Kind.SCREEN, data)

        recorder = None
        started = time.monotonic()
        appends: list[float] = []
        if args.record:  # as `ra ask` records (ra.recording), chunks of 5 s
            recorder = _bench_recorder(Path(args.home), appends=appends)
        lag = asyncio.create_task(_loop_lag(stats))
        desktop = desktop_cls(args.display, send_screen, lambda: None, recorder=recorder)
        desktop.enable_input()
        desktop.start_streaming()
        injected = 0
        try:
            while True:
                frame = await channel.recv()
                if frame.kind is Kind.BYE:
                    break
                message = frame.message if frame.kind is Kind.JSON else None
                if message is None:
                    continue
                if message.get("type") == "screen.ack":
                    if isinstance(message.get("seq"), int):  # as ra.session.driver does
                        if message.get("superseded") is True:  # (never from an older ra)
                            desktop.on_ack(message["seq"], False)
                        else:
                            desktop.on_ack(message["seq"])
                    continue
                fact = msg.parse(message, "helper")
                if isinstance(fact, msg.Input):
                    _kind, clean = msg.parse_input(fact.event)
                    if clean is not None and not msg.is_escape(clean):
                        desktop.inject(clean)
                        injected += 1
        finally:
            pacer = desktop.pacer
            stats.update(
                frames_sent=desktop.frames_sent, bytes_sent=desktop.bytes_sent,
                injected=injected, pacer_quality=pacer.quality,
                pacer_fps=round(pacer.fps, 2), pacer_merged=pacer.merged,
                pacer_latency_ms=None if pacer.latency is None else pacer.latency * 1e3,
                pacer_send_ms=None if pacer.send_time is None else pacer.send_time * 1e3,
                pacer_bandwidth_mbit=(None if getattr(pacer, "bandwidth", None) is None
                                      else pacer.bandwidth * 8 / 1e6),
                pacer_min_rtt_ms=(None if getattr(pacer, "min_rtt", None) is None
                                  else pacer.min_rtt * 1e3),
            )
            desktop.close()
            lag.cancel()
            if recorder is not None:
                await recorder.close()
                stats.update(chunk_event_ms_median=round(1e3 * statistics.median(appends), 2)
                             if appends else None,
                             chunk_event_ms_max=round(1e3 * max(appends), 2) if appends else None)
                stats.update(recorded_bytes=recorder.bytes_written,
                             recorded_chunks=recorder.chunks_written,
                             recorded_folder_bytes=_folder_bytes(recorder.folder),
                             recorded_session_s=round(time.monotonic() - started, 3))
            stop.set()

    server = await serve(
        "127.0.0.1", 0, identity, secret_for=secret_for, check=lambda *_: None,
        on_auth_failed=lambda *_: None, on_authenticated=session,
    )
    port = server.sockets[0].getsockname()[1]
    now = datetime.now(UTC)
    invitation = new_invitation(
        name="Bench", message="desktop benchmark", expires_at=now + timedelta(hours=2),
        addresses=("127.0.0.1",), port=port, tls_fingerprint=identity.tls_fingerprint,
        signing_key=identity.signing_key.public_key(), now=now,
    )
    secret = await asyncio.to_thread(derive_pake_secret, PASSWORD, invitation.pake)
    secrets[invitation.invitation_id] = InvitationSecret(invitation, secret)
    tmp = args.invitation + ".tmp"
    Path(tmp).write_bytes(sign_invitation(invitation, identity.signing_key))
    os.replace(tmp, args.invitation)
    if profiler:
        profiler.main.enable()
    await stop.wait()
    if profiler:
        profiler.main.disable()
        profiler.write(args.profile, stats)
    server.close()
    _write_json(args.stats, stats)
    return 0


BENCH_SESSION = "bench0session0id"


async def _loop_lag(stats: dict[str, Any], every: float = 0.01) -> None:
    """How late the person side's loop wakes (it stalls when something blocks it)."""
    late: list[float] = []
    try:
        while True:
            due = time.perf_counter() + every
            await asyncio.sleep(every)
            late.append(time.perf_counter() - due)
    finally:
        if late:
            stats.update(loop_lag_ms_p99=round(1e3 * float(np.percentile(late, 99)), 1),
                         loop_lag_ms_max=round(1e3 * max(late), 1),
                         loop_stalled_s=round(sum(x for x in late if x > 0.05), 2))


def _bench_recorder(home: Path, wall: Any = time.time,
                    appends: list[float] | None = None) -> Any:
    """A `ScreenRecorder` wired as `ra ask` wires it: the session's key from the
    keystore, and each chunk's ``recording.chunk`` event appended to the home's
    log on the loop (synchronous, FULL sync), as the session driver appends it.
    `wall` is its clock (Unix seconds); `appends` gets how long each append took (s)."""
    from ra.engine import Record, SessionEngine
    from ra.events import EventStore
    from ra.home import Home
    from ra.recording.chunks import KEY_PURPOSE, ChunkInfo, session_folder
    from ra.recording.recorder import ScreenRecorder
    from ra.session_keys import SessionKeys

    found = Home.at(home)
    store = EventStore.open(found)
    engine = SessionEngine("person", "Bench", recording=True)
    key = SessionKeys(found).key(BENCH_SESSION, KEY_PURPOSE, create=True)

    def on_chunk(info: ChunkInfo) -> None:
        events = [out.event for out in engine.recording_chunk(info.payload(), wall())
                  if isinstance(out, Record)]
        started = time.perf_counter()
        store.append(f"session:{BENCH_SESSION}", None, events)
        if appends is not None:
            appends.append(time.perf_counter() - started)

    return ScreenRecorder(session_folder(home, BENCH_SESSION), key, BENCH_SESSION, on_chunk,
                          wall=wall)


def _folder_bytes(folder: Path) -> int:
    """The bytes of the files in `folder` (a session's recording), 0 if there is none."""
    if not folder.is_dir():
        return 0
    return sum(p.stat().st_size for p in folder.iterdir() if p.is_file())


class _Profiled:
    """cProfile of the person side: the event loop thread, and `_capture` in its worker."""

    def __init__(self) -> None:
        import cProfile

        self.main = cProfile.Profile()
        self.capture = cProfile.Profile()
        self.splits: dict[str, list[float]] = {"grab": [], "cursor": [], "encode": []}

    def desktop_class(self) -> type:
        from ra.desktop.codec import TileEncoder
        from ra.session.desktop import X11Desktop

        prof = self

        class ProfiledDesktop(X11Desktop):
            def _capture(self) -> Any:  # the same steps as X11Desktop._capture, timed
                prof.capture.enable()
                try:
                    t0 = time.perf_counter()
                    frame = self.backend.grab()
                    t1 = time.perf_counter()
                    cursor = self.backend.cursor_position()
                    t2 = time.perf_counter()
                    height, width = frame.shape[:2]
                    if self._encoder is None:
                        self._encoder = TileEncoder(width, height, browser_safe=True)
                        self._want_keyframe = True
                    keyframe, self._want_keyframe = self._want_keyframe, False
                    update = self._encoder.encode(frame, force_full=keyframe,
                                                  quality=self.pacer.quality, cursor=cursor,
                                                  keep=True)
                    t3 = time.perf_counter()
                finally:
                    prof.capture.disable()
                prof.splits["grab"].append(t1 - t0)
                prof.splits["cursor"].append(t2 - t1)
                prof.splits["encode"].append(t3 - t2)
                return update

        return ProfiledDesktop

    def write(self, path: str, stats: dict[str, Any]) -> None:
        import io
        import pstats

        out = io.StringIO()
        out.write(f"person-side stats: {json.dumps(stats)}\n\nsplits per capture (ms):\n")
        for name, values in self.splits.items():
            if values:
                arr = np.array(values) * 1e3
                out.write(f"  {name:7s} n={len(arr)} p50={np.median(arr):.2f} "
                          f"p90={np.percentile(arr, 90):.2f} max={arr.max():.2f}\n")
        for title, prof in (("capture worker thread (_capture)", self.capture),
                            ("event loop thread", self.main)):
            out.write(f"\n=== {title}: top 30 by cumulative time ===\n")
            pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(30)
            out.write(f"\n=== {title}: top 20 by own time ===\n")
            pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(20)
        Path(path).write_text(out.getvalue())


# --- worker: the helper clients -------------------------------------------------------------------


def ra_client_main(args: argparse.Namespace) -> int:
    return asyncio.run(_ra_client(args))


async def _ra_client(args: argparse.Namespace) -> int:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ra.desktop.codec import TileDecoder, decode_update
    from ra.invitations.file import parse_invitation
    from ra.net import ConnectionClosed, HelperSigner, Kind, NetError, connect

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    invitation = parse_invitation(Path(args.invitation).read_bytes())
    channel = await connect(invitation, PASSWORD,
                            HelperSigner("bench", Ed25519PrivateKey.generate()), timeout=20)
    updates: list[tuple[int, int, int, int, int]] = []
    inputs: list[tuple[int, int, int]] = []
    decoder: TileDecoder | None = None

    async def send_input() -> None:
        period = 1 / args.input_hz
        i = 0
        while not stop.is_set():
            await asyncio.sleep(period)
            x, y = _probe_position(i)
            i += 1
            t = time.monotonic_ns()
            await channel.send_json({"type": "input",
                                     "event": {"kind": "pointer", "x": x, "y": y}})
            inputs.append((x, y, t))

    def apply(update: Any) -> int:
        assert decoder is not None
        decoder.apply(update)
        stamp = read_stamp(decoder.framebuffer)
        return -1 if stamp is None else stamp

    async def receive() -> None:
        nonlocal decoder
        while True:
            frame = await channel.recv()
            if frame.kind is not Kind.SCREEN:
                continue
            t_recv = time.monotonic_ns()
            update = decode_update(frame.body)
            if decoder is None or (decoder.width, decoder.height) != (update.width,
                                                                       update.height):
                decoder = TileDecoder(update.width, update.height)
            stamp = await asyncio.to_thread(apply, update)
            t_done = time.monotonic_ns()
            pixels = sum(t.w * t.h for t in update.tiles)
            await channel.send_json({"type": "screen.ack", "seq": update.seq})
            if update.tiles:
                updates.append((t_recv, t_done, len(frame.body), pixels, stamp))
            if len(updates) == 1:
                _touch(args.ready)

    tasks = [asyncio.create_task(send_input()), asyncio.create_task(receive())]
    stopper = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
    error = None
    for task in done:
        if task is not stopper and task.exception() is not None:
            error = repr(task.exception())
    for task in (*tasks, stopper):
        task.cancel()
    with contextlib.suppress(NetError, ConnectionClosed, OSError):
        await channel.close("done")
    _write_json(args.out, {"updates": updates, "inputs": inputs, "error": error})
    return 0


def rfb_client_main(args: argparse.Namespace) -> int:
    from bench.rfb import RFBClient

    stop = _Stop()
    client = RFBClient("127.0.0.1", args.port)
    updates: list[tuple[int, int, int, int, int]] = []
    inputs: list[tuple[int, int, int]] = []

    def send_input() -> None:
        period = 1 / args.input_hz
        i = 0
        while not stop.flag.wait(period):
            x, y = _probe_position(i)
            i += 1
            t = time.monotonic_ns()
            client.pointer(x, y)
            inputs.append((x, y, t))

    sender = threading.Thread(target=send_input, daemon=True)
    sender.start()
    client.sock.settimeout(0.5)
    client.request(incremental=False)
    error = None
    try:
        while not stop.flag.is_set():
            try:
                client.sock.settimeout(0.5)
                first = client.sock.recv(1, socket.MSG_PEEK)
                if not first:
                    break
            except TimeoutError:
                continue
            client.sock.settimeout(None)
            t_recv = time.monotonic_ns()  # the first byte of the message has arrived
            info = client.read_message()
            if info is None:
                continue
            client.request(incremental=True)
            stamp = read_stamp(client.framebuffer, client.width)
            t_done = time.monotonic_ns()
            if info.rects:
                updates.append((t_recv, t_done, info.nbytes, info.pixels,
                                -1 if stamp is None else stamp))
            if len(updates) == 1:
                _touch(args.ready)
    except Exception as exc:  # recorded; the orchestrator reports it
        error = repr(exc)
    stop.flag.set()
    sender.join(1)
    client.close()
    _write_json(args.out, {"updates": updates, "inputs": inputs, "error": error})
    return 0


# --- the orchestrator ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(path: Path, proc: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before it was ready")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} was not ready within {timeout:g} s")
        time.sleep(0.02)


class _Procs:
    """Processes of one run, stopped in reverse order of start."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None
              ) -> subprocess.Popen[bytes]:
        err = open(self.tmp / f"{name}.err", "wb")  # noqa: SIM115 - closed with the run
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT,
                                env=env or os.environ.copy())
        err.close()
        self.procs.append((name, proc))
        return proc

    def worker(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        return self.start(name, [PY, "-m", "bench.desktop", *args])

    def stop(self, name: str, timeout: float = 10) -> None:
        for n, proc in self.procs:
            if n == name and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    def stop_all(self) -> None:
        for name, _proc in reversed(self.procs):
            self.stop(name)

    def err(self, name: str) -> str:
        path = self.tmp / f"{name}.err"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""


def _cpu(pids: dict[str, int]) -> dict[str, float]:
    import psutil

    out = {}
    for name, pid in pids.items():
        with contextlib.suppress(psutil.Error):
            t = psutil.Process(pid).cpu_times()
            out[name] = t.user + t.system
    return out


def run_one(system: str, workload: str, cfg: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    tmp.mkdir(parents=True)
    procs = _Procs(tmp)
    screen = contextlib.ExitStack()
    try:
        started = screen.enter_context(xvfb(WIDTH, HEIGHT))
        display = started.name
        env = started.env()
        pids = {"xvfb": started.pid}
        if workload == "terminal":
            xterm = procs.start("xterm", ["xterm", "-maximized", "-fa", "DejaVu Sans Mono",
                                          "-fs", "12", "-e", "bash", "-c", TERMINAL_CMD],
                                env=env)
            pids["xterm"] = xterm.pid
            time.sleep(1.0)
        mode = {"fullscreen": "shift", "terminal": "stamp", "noise": "noise"}[workload]
        painter = procs.worker("paint", "paint", "--display", display, "--mode", mode,
                               "--log", str(tmp / "paint.json"), "--ready",
                               str(tmp / "paint.ready"))
        _wait_for(tmp / "paint.ready", painter, "the painter", 60)
        pids["paint"] = painter.pid
        probe = procs.worker("probe", "probe", "--display", display, "--log",
                             str(tmp / "probe.json"), "--ready", str(tmp / "probe.ready"))
        _wait_for(tmp / "probe.ready", probe, "the probe")
        out = str(tmp / "client.json")
        if system in ("ra", "ra-rec"):
            person = procs.worker("server", "ra-person", "--display", display, "--home",
                                  str(tmp / "home"), "--invitation", str(tmp / "invitation"),
                                  "--stats", str(tmp / "person.json"),
                                  *(["--record"] if system == "ra-rec" else []),
                                  *(["--profile", cfg.profile_out] if cfg.profile else []))
            _wait_for(tmp / "invitation", person, "ra's person side", 60)
            client = procs.worker("client", "ra-client", "--invitation",
                                  str(tmp / "invitation"), "--out", out, "--ready",
                                  str(tmp / "client.ready"), "--input-hz", str(cfg.input_hz))
        else:
            port = _free_port()
            person = procs.start("server", ["x11vnc", "-display", display, "-rfbport",
                                            str(port), *X11VNC_ARGS])
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", port), timeout=1
                ):
                    break
                time.sleep(0.1)
            client = procs.worker("client", "rfb-client", "--port", str(port), "--out", out,
                                  "--ready", str(tmp / "client.ready"), "--input-hz",
                                  str(cfg.input_hz))
        pids.update(server=person.pid, client=client.pid, probe=probe.pid)
        _wait_for(tmp / "client.ready", client, "the client", 60)
        time.sleep(cfg.warmup)
        cpu0, t0 = _cpu(pids), time.monotonic_ns()
        time.sleep(cfg.seconds)
        cpu1, t1 = _cpu(pids), time.monotonic_ns()
        procs.stop("client")
        procs.stop("server")
        procs.stop("probe")
        procs.stop("paint")
        wall = (t1 - t0) / 1e9
        cpu = {k: round(100 * (cpu1[k] - cpu0[k]) / wall, 1) for k in cpu1 if k in cpu0}
        client_log = json.loads(Path(out).read_text())
        paint_log = json.loads((tmp / "paint.json").read_text())
        probe_log = json.loads((tmp / "probe.json").read_text())
        person_stats = {}
        if (tmp / "person.json").exists():
            person_stats = json.loads((tmp / "person.json").read_text())
        sample = measure(client_log, paint_log, probe_log, t0, t1)
        if person_stats.get("recorded_session_s"):  # the recording's size over the session
            sample["disk_mbytes_per_min"] = round(
                person_stats["recorded_folder_bytes"] / 1e6
                / (person_stats["recorded_session_s"] / 60), 2)
        sample.update(system=system, workload=workload, cpu_percent=cpu,
                      window_s=round(wall, 3), person_stats=person_stats,
                      client_error=client_log.get("error"))
        return sample
    except Exception:
        for name in ("server", "client", "paint", "probe"):
            if text := procs.err(name):
                log(f"--- {name} stderr ---\n{text}")
        raise
    finally:
        procs.stop_all()
        screen.close()


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 2) if values else None


def measure(client: dict[str, Any], paint: dict[str, Any], probe: dict[str, Any],
            t0: int, t1: int) -> dict[str, Any]:
    wall = (t1 - t0) / 1e9
    painted = {c: after for c, _before, after in paint["frames"]}
    painted_in = sum(1 for _c, _b, after in paint["frames"] if t0 <= after < t1)
    updates = [u for u in client["updates"] if t0 <= u[1] < t1]
    latencies, last, unreadable = [], -1, 0
    for _t_recv, t_done, _n, _px, stamp in client["updates"]:
        if stamp < 0:
            unreadable += t0 <= t_done < t1
            continue
        if stamp > last:
            last = stamp
            if t0 <= t_done < t1 and stamp in painted:
                latencies.append((t_done - painted[stamp]) / 1e6)
    arrived: dict[tuple[int, int], int] = {}
    for kind, x, y, t in probe["events"]:
        if kind == 6:
            arrived.setdefault((x, y), t)
    sent = [i for i in client["inputs"] if t0 <= i[2] < t1]
    input_lat = [(arrived[(x, y)] - t) / 1e6 for x, y, t in sent if (x, y) in arrived]
    decode_ms = [(u[1] - u[0]) / 1e6 for u in updates]
    return {
        "updates": len(updates),
        "updates_per_s": round(len(updates) / wall, 2),
        "frames_per_s": round(len(latencies) / wall, 2),
        "big_updates_per_s": round(sum(u[3] > WIDTH * HEIGHT / 2 for u in updates) / wall, 2),
        "painted_per_s": round(painted_in / wall, 2),
        "painter_skipped": paint.get("skipped", 0),
        "bytes_per_update": round(statistics.fmean(u[2] for u in updates)) if updates else None,
        "coverage": round(statistics.fmean(u[3] for u in updates) / (WIDTH * HEIGHT), 4)
        if updates else None,
        "mbytes_per_s": round(sum(u[2] for u in updates) / wall / 1e6, 2),
        "unreadable_stamps": unreadable,
        "latency_ms_p50": _pct(latencies, 50),
        "latency_ms_p99": _pct(latencies, 99),
        "latency_n": len(latencies),
        "recv_to_decoded_ms_p50": _pct(decode_ms, 50),
        "input_ms_p50": _pct(input_lat, 50),
        "input_ms_p99": _pct(input_lat, 99),
        "inputs_sent": len(sent),
        "inputs_lost": len(sent) - len(input_lat),
    }


METRICS = ("updates_per_s", "frames_per_s", "big_updates_per_s", "painted_per_s",
           "bytes_per_update", "coverage", "mbytes_per_s", "latency_ms_p50", "latency_ms_p99",
           "input_ms_p50", "input_ms_p99", "inputs_lost", "disk_mbytes_per_min")
CPU_KEYS = ("server", "client", "xvfb", "paint", "xterm", "probe")


def summarise(samples: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for s in samples:
        out.setdefault(f"{s['workload']}/{s['system']}", {"runs": []})["runs"].append(s)
    for group in out.values():
        runs = group.pop("runs")
        group["rounds"] = len(runs)
        for key in METRICS:
            values = [r[key] for r in runs if r.get(key) is not None]
            if values:
                group[key] = {"median": statistics.median(values), "min": min(values),
                              "max": max(values)}
        for key in CPU_KEYS:
            values = [r["cpu_percent"][key] for r in runs if key in r["cpu_percent"]]
            if values:
                group[f"cpu_{key}"] = {"median": statistics.median(values),
                                       "min": min(values), "max": max(values)}
    return out


def targets(summary: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    def med(group: str, key: str) -> Any:
        return summary.get(group, {}).get(key, {}).get("median")

    ra_ups = med("fullscreen/ra", "updates_per_s")
    vnc_ups = med("fullscreen/x11vnc", "updates_per_s")
    ra_bytes = med("fullscreen/ra", "bytes_per_update")
    rows = [
        ("full-screen updates/s >= 30", ra_ups, ra_ups is not None and ra_ups >= 30),
        ("full-screen updates/s >= x11vnc's", f"{ra_ups} vs {vnc_ups}",
         None not in (ra_ups, vnc_ups) and ra_ups >= vnc_ups),
        ("bytes per full-screen update <= raw/10 (829,440)", ra_bytes,
         ra_bytes is not None and ra_bytes <= RAW_BYTES / 10),
    ]
    for workload in ("fullscreen", "terminal", "noise"):
        if f"{workload}/ra" not in summary:
            continue
        lat = med(f"{workload}/ra", "latency_ms_p50")
        rows.append((f"{workload}: change->decoded p50 <= 50 ms", lat,
                     lat is not None and lat <= 50))
        inp = med(f"{workload}/ra", "input_ms_p50")
        rows.append((f"{workload}: input->injected p50 <= 5 ms", inp,
                     inp is not None and inp <= 5))
    return [{"target": t, "ra": v, "met": bool(m)} for t, v, m in rows]


def markdown(result: dict[str, Any]) -> str:
    summary = result["summary"]

    def cell(group: dict[str, Any], key: str, fmt: str = "{:,.1f}") -> str:
        v = group.get(key)
        if v is None:
            return "-"
        text = fmt.format(v["median"])
        if v["min"] != v["max"]:
            text += f" ({fmt.format(v['min'])}–{fmt.format(v['max'])})"
        return text

    lines = [
        "| workload | system | updates/s | frames/s (painted/s) | KB/update | coverage "
        "| change→decoded p50 / p99 ms | input→injected p50 / p99 ms (lost) "
        "| CPU % server / client / Xvfb |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, g in summary.items():
        workload, system = name.split("/")
        kb = g.get("bytes_per_update")
        kb_text = "-" if kb is None else f"{kb['median'] / 1000:,.0f}"
        if kb is not None and kb["min"] != kb["max"]:
            kb_text += f" ({kb['min'] / 1000:,.0f}–{kb['max'] / 1000:,.0f})"
        lines.append(
            f"| {workload} | {system} | {cell(g, 'updates_per_s')} "
            f"| {cell(g, 'frames_per_s')} ({cell(g, 'painted_per_s', '{:.0f}')}) | {kb_text} "
            f"| {cell(g, 'coverage', '{:.2f}')} "
            f"| {cell(g, 'latency_ms_p50')} / {cell(g, 'latency_ms_p99')} "
            f"| {cell(g, 'input_ms_p50', '{:.2f}')} / {cell(g, 'input_ms_p99', '{:.2f}')} "
            f"({cell(g, 'inputs_lost', '{:.0f}')}) "
            f"| {cell(g, 'cpu_server', '{:.0f}')} / {cell(g, 'cpu_client', '{:.0f}')} "
            f"/ {cell(g, 'cpu_xvfb', '{:.0f}')} |"
        )
    lines += ["", "| target | ra | met |", "|---|---|---|"]
    for t in result["targets"]:
        lines.append(f"| {t['target']} | {t['ra']} | {'yes' if t['met'] else '**no**'} |")
    return "\n".join(lines)


def _command(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def machine() -> dict[str, Any]:
    import psutil

    model = next((line.split(":", 1)[1].strip() for line in _command(["lscpu"]).splitlines()
                  if line.startswith("Model name")), platform.processor())
    return {
        "cpu_model": model,
        "cpus": os.cpu_count(),
        "ram_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "x11vnc": _command(["x11vnc", "-version"]).splitlines()[:1],
        "xvfb": _command(["dpkg-query", "-W", "-f=${Version}", "xvfb"]),
        "load_avg_at_end": os.getloadavg(),
    }


RECORDING = {"off": ("ra",), "on": ("ra-rec",), "both": ("ra", "ra-rec")}


def with_recording(systems: list[str], recording: str | None) -> list[str]:
    """`systems` with ra (and ra-rec) as `--recording` says: off, on or both."""
    if recording is None:
        return systems
    out: list[str] = []
    for system in systems:
        for name in RECORDING[recording] if system in ("ra", "ra-rec") else (system,):
            if name not in out:
                out.append(name)
    return out


def add_run_options(parser: argparse.ArgumentParser, seconds: float) -> None:
    """How many rounds, and how long each run warms up and is measured."""
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=seconds, help="measured window per run")
    parser.add_argument("--warmup", type=float, default=3.0)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench desktop", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_options(parser, 25.0)
    parser.add_argument("--input-hz", type=float, default=30.0)
    parser.add_argument("--workloads", default=",".join(WORKLOADS))
    parser.add_argument("--systems", default=",".join(SYSTEMS))
    parser.add_argument("--recording", choices=RECORDING, default=None,
                        help="ra with the screen recorded (system ra-rec), not (ra), or both, "
                             "interleaved in each round (default: as --systems says)")
    parser.add_argument("--quick", action="store_true", help="1 round of 8 s")
    parser.add_argument("--profile", action="store_true",
                        help="profile ra's person side (fullscreen) instead of comparing")
    parser.add_argument("--out", default=None)
    cfg = parser.parse_args(argv)
    for tool in ("Xvfb", "x11vnc", "xterm"):
        if shutil.which(tool) is None:
            print(f"bench desktop: {tool} is not installed", file=sys.stderr)
            return 2
    if cfg.quick:
        cfg.rounds, cfg.seconds = 1, 8.0
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    RESULTS.mkdir(exist_ok=True)
    workloads = cfg.workloads.split(",")
    systems = with_recording(cfg.systems.split(","), cfg.recording)
    cfg.profile_out = ""
    if cfg.profile:
        cfg.rounds, systems = 1, ["ra"]
        workloads = [w for w in workloads if w != "terminal"] or ["fullscreen"]
        cfg.profile_out = str(RESULTS / f"desktop-profile-{date}.txt")
    command = "python -m bench desktop " + " ".join(argv)
    samples = []
    with tempfile.TemporaryDirectory(prefix="ra-bench-desktop-") as tmpdir:
        for rnd in range(cfg.rounds):
            for workload in workloads:
                order = systems[rnd % len(systems):] + systems[: rnd % len(systems)]
                for system in order:
                    log(f"round {rnd + 1}/{cfg.rounds}: {workload} / {system}")
                    sample = run_one(system, workload, cfg,
                                     Path(tmpdir) / f"{rnd}-{workload}-{system}")
                    sample["round"] = rnd
                    samples.append(sample)
                    log("  " + json.dumps({k: sample[k] for k in (
                        "updates_per_s", "frames_per_s", "big_updates_per_s",
                        "bytes_per_update",
                        "latency_ms_p50", "latency_ms_p99", "input_ms_p50",
                        "input_ms_p99", "cpu_percent")}))
    summary = summarise(samples)
    result = {
        "suite": "desktop",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": command,
        "config": {"rounds": cfg.rounds, "seconds": cfg.seconds, "warmup": cfg.warmup,
                   "input_hz": cfg.input_hz, "screen": f"{WIDTH}x{HEIGHT}x24",
                   "x11vnc_args": list(X11VNC_ARGS), "terminal_cmd": TERMINAL_CMD,
                   "workloads": workloads, "systems": systems},
        "machine": machine(),
        "git_head": _command(["git", "rev-parse", "HEAD"]),
        "summary": summary,
        "targets": targets(summary),
        "samples": samples,
    }
    suffix = "-profile" if cfg.profile else "-quick" if cfg.quick else ""
    path = Path(cfg.out) if cfg.out else RESULTS / f"desktop-{date}{suffix}.json"
    path.write_text(json.dumps(result, indent=1))
    print(markdown(result))
    print(f"\nresults: {path}" + (f"\nprofile: {cfg.profile_out}" if cfg.profile else ""))
    return 0


# --- entry point for the workers: python -m bench.desktop <worker> ... -----------------------


def _worker(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.desktop")
    sub = parser.add_subparsers(dest="worker", required=True)
    p = sub.add_parser("paint")
    p.add_argument("--display", required=True)
    p.add_argument("--mode", choices=("shift", "stamp", "noise"), default="shift")
    p.add_argument("--fps", type=float, default=60.0)
    p.add_argument("--log", required=True)
    p.add_argument("--ready", required=True)
    p = sub.add_parser("probe")
    p.add_argument("--display", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--ready", required=True)
    p = sub.add_parser("ra-person")
    p.add_argument("--display", required=True)
    p.add_argument("--home", required=True)
    p.add_argument("--invitation", required=True)
    p.add_argument("--stats", required=True)
    p.add_argument("--profile", default="")
    p.add_argument("--record", action="store_true",
                   help="record the screen sent, as `ra ask` does (system ra-rec)")
    for name in ("ra-client", "rfb-client"):
        p = sub.add_parser(name)
        p.add_argument("--out", required=True)
        p.add_argument("--ready", required=True)
        p.add_argument("--input-hz", type=float, default=30.0)
        if name == "ra-client":
            p.add_argument("--invitation", required=True)
        else:
            p.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    return {"paint": paint_main, "probe": probe_main, "ra-person": ra_person_main,
            "ra-client": ra_client_main, "rfb-client": rfb_client_main}[args.worker](args)


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1:]))
