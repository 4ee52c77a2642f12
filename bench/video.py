"""The video path, measured against the tile codec on the same link, in the same run.

Run ``python -m bench video`` (as root for shaped links; see `bench.link`), e.g.
``python -m bench video --links loopback,20mbit-40ms --workloads fullscreen,terminal``.

Everything but the codec is `bench.link`'s: Xvfb and the workloads, the
namespaces and the shaper, ``ra.net`` (TLS + SPAKE2) between the person and the
helper, the helper process (`bench.link.helper_main`), headless Chromium, the
stamp read from the canvas after every paint, and the metrics (`bench.link.measure`).
Each case is run once per codec, one after the other: ``tile`` is ``bench link``
itself; ``h264`` (libx264) and ``vp8`` (libvpx) swap two parts in the workers:

- person: `VideoDesktop` stands in for `ra.session.desktop.X11Desktop`. It
  grabs with ra's capture (`X11Backend.grab`, MIT-SHM through mss) up to 60 times
  a second, skips a frame that did not change, converts BGRA to I420 and
  encodes with PyAV in realtime settings (no B-frames, no lookahead, zero-latency
  tuning, fastest preset, 2 threads, a keyframe every 600 frames). The
  bitrate is chosen from the link: 85 % of its rate (``--loopback-mbit`` on
  loopback), with a VBV buffer of 100 ms so no frame is much bigger than its
  share. Frames go as SCREEN frames (header: seq, keyframe flag, codec) and the
  helper acks each seq as for tiles; a frame is captured only when the bytes not
  yet acked fit in 100 ms of the bitrate (at least 64 KB) and are at most
  `IN_FLIGHT` frames, so the link never queues more than that. No frame can be
  dropped once encoded (the next ones depend on it), so the helper acks a frame
  only once the page has drawn all but `PAGE_LAG` of the ones before it: a page
  short of CPU slows the capture instead of queueing frames.
- helper: `VideoPage` stands in for `ra.viewer.ViewerServer`: it serves
  ``bench/video.html`` on loopback, which decodes with WebCodecs
  (``VideoDecoder``, software) and draws each frame whole on a 1920x1080
  canvas, marking it as the tile page does (``data-seq``, ``data-frames``).

Text sharpness: for the ``typing`` workload (an idle xterm: text that stays),
the page's canvas and the X screen are compared at the end of the run (the
terminal's area, the stamp row excluded): PSNR in dB and the share of pixels
off by more than 32 on some channel.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import struct
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

from bench import link
from bench.desktop import RESULTS, ROOT, log, machine

CODECS = {"h264": (1, "libx264"), "vp8": (2, "libvpx"), "vp9": (3, "libvpx-vp9")}
HEADER = struct.Struct(">IBB")  # seq, flags (1: keyframe), codec id
PAGE = Path(__file__).with_name("video.html")
ENV_CODEC = "RA_BENCH_VIDEO_CODEC"
ENV_BITRATE = "RA_BENCH_VIDEO_BITRATE"
PAGE_LAG = 2  # frames the page may have to draw still when the helper acks a frame
IN_FLIGHT = 4  # frames sent and not yet acked, at most


def peek_seq(data: bytes) -> int:
    """The seq of a video frame (stands in for `ra.desktop.codec.peek_seq`)."""
    return int(HEADER.unpack_from(data, 0)[0])


def encoder_options(name: str, bitrate: int, fps: int) -> dict[str, str]:
    kbit = max(100, bitrate // 1000)
    if name == "libx264":
        return {"preset": "ultrafast", "tune": "zerolatency",
                "x264-params": f"keyint=600:min-keyint=600:bframes=0:rc-lookahead=0:"
                               f"vbv-maxrate={kbit}:vbv-bufsize={max(1, kbit // 10)}:threads=2"}
    return {"deadline": "realtime", "cpu-used": "16" if name == "libvpx" else "8",
            "lag-in-frames": "0", "threads": "2", "g": "600", "error-resilient": "1",
            "maxrate": str(bitrate), "bufsize": str(bitrate // 10), "row-mt": "1"}


def bitrate_for(name: str, loopback_mbit: float) -> float:
    """The video bitrate for a link of `bench.link.LINKS`: 85 % of its rate."""
    shaped = link.LINKS[name]
    return loopback_mbit * 1e6 if shaped is None else 0.85 * shaped[0]


class _PacerStats:
    """What `bench.desktop`'s person reads from a desktop's pacer at the end."""

    quality = 0
    fps = 0.0
    merged = 0
    latency: float | None = None
    send_time: float | None = None


class VideoDesktop:
    """The person's screen as video: stands in for X11Desktop in `bench.desktop`'s person."""

    def __init__(self, display: str, send_screen: Callable[[bytes], Awaitable[None]],
                 on_esc: Callable[[], None], **_: Any) -> None:
        from ra.desktop.backend import X11Backend

        self.backend = X11Backend(display)
        self.codec = os.environ.get(ENV_CODEC, "h264")
        self.codec_id, self.encoder_name = CODECS[self.codec]
        self.bitrate = int(float(os.environ.get(ENV_BITRATE, "30e6")))
        self.fps = 60
        self.budget = max(64 * 1024, int(self.bitrate / 8 * 0.1))  # bytes not yet acked
        self._send_screen = send_screen
        self.pacer = _PacerStats()
        self.frames_sent = 0
        self.bytes_sent = 0
        self.skipped_same = 0
        self.budget_waits = 0  # captures that waited for acks
        self.encode_ms: list[float] = []
        self._in_flight: dict[int, int] = {}
        self._acked = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._context: Any = None
        self._last: Any = None
        self._seq = 0
        self._lock = threading.Lock()

    def enable_input(self) -> None:
        pass

    def inject(self, _event: dict[str, Any]) -> None:
        pass

    def start_streaming(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._stream())

    def on_ack(self, seq: int) -> None:
        for s in [s for s in self._in_flight if s <= seq]:
            del self._in_flight[s]
        self._acked.set()

    def _behind(self) -> bool:
        return (len(self._in_flight) >= IN_FLIGHT
                or sum(self._in_flight.values()) > self.budget)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
        if self.encode_ms:
            print(json.dumps({"video_frames": self.frames_sent, "budget_waits": self.budget_waits,
                              "unchanged": self.skipped_same,
                              "encode_ms_p50": round(statistics.median(self.encode_ms), 1),
                              "encode_ms_max": round(max(self.encode_ms), 1)}), file=sys.stderr)

    async def _stream(self) -> None:
        loop = asyncio.get_running_loop()
        self._started = time.monotonic()
        due = time.monotonic()
        while True:
            now = time.monotonic()
            if due > now:
                await asyncio.sleep(due - now)
            if self._behind():
                self.budget_waits += 1
            while self._behind():
                self._acked.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._acked.wait(), 0.25)
            started = time.monotonic()
            due = max(started, due + 1 / self.fps)
            body = await loop.run_in_executor(None, self._capture)
            if body is None:
                continue
            seq = peek_seq(body)
            self._in_flight[seq] = len(body)
            await self._send_screen(body)
            self.frames_sent += 1
            self.bytes_sent += len(body)
            # For the person's stats: frames sent a second, the bitrate (kbit/s) as "quality".
            self.pacer.fps = self.frames_sent / max(1e-3, time.monotonic() - self._started)
            self.pacer.quality = self.bitrate // 1000

    def _open(self, width: int, height: int) -> Any:
        import av

        context = av.CodecContext.create(self.encoder_name, "w")
        context.width, context.height = width, height
        context.pix_fmt = "yuv420p"
        context.time_base = Fraction(1, 1000)
        context.framerate = Fraction(self.fps, 1)
        context.bit_rate = self.bitrate
        context.options = encoder_options(self.encoder_name, self.bitrate, self.fps)
        context.open()
        return context

    def _capture(self) -> bytes | None:
        import av
        import numpy as np

        frame = np.ascontiguousarray(self.backend.grab(0))
        if self._last is not None and np.array_equal(frame, self._last):
            self.skipped_same += 1
            return None
        self._last = frame
        t0 = time.perf_counter()
        height, width = frame.shape[:2]
        if self._context is None:
            self._context = self._open(width, height)
        picture = av.VideoFrame.from_ndarray(frame, format="bgra").reformat(format="yuv420p",
                                                                        threads=2)
        picture.pts = int((time.monotonic() - self._started) * 1000)
        packets = self._context.encode(picture)
        self.encode_ms.append((time.perf_counter() - t0) * 1e3)
        if not packets:
            return None
        self._seq += 1
        key = any(p.is_keyframe for p in packets)
        return HEADER.pack(self._seq, int(key), self.codec_id) + b"".join(bytes(p)
                                                                         for p in packets)


class VideoPage:
    """The page's side of the helper: stands in for `ra.viewer.ViewerServer` in
    `bench.link`'s helper. Serves `PAGE` on loopback under a random path; one page."""

    def __init__(self, _on_message: Callable[[Any], None]) -> None:
        self.connected = asyncio.Event()
        self.drawn = 0  # the newest seq the page has drawn
        self._drawn = asyncio.Event()
        self._ws: Any = None
        self._server: Any = None
        self._path = "/" + os.urandom(12).hex() + "/"
        self._url = ""

    async def start(self) -> str:
        from websockets.asyncio.server import serve
        from websockets.datastructures import Headers
        from websockets.http11 import Response

        page = PAGE.read_bytes()

        def process_request(_connection: Any, request: Any) -> Response | None:
            if request.path == self._path + "ws" and self._ws is None:
                return None
            if request.path == self._path:
                return Response(200, "OK", Headers([("Content-Type", "text/html"),
                                                    ("Cache-Control", "no-store")]), page)
            return Response(404, "Not Found", Headers([("Content-Type", "text/plain")]), b"")

        async def handler(ws: Any) -> None:
            self._ws = ws
            self.connected.set()
            with contextlib.suppress(Exception):
                async for message in ws:
                    if isinstance(message, str) and message.isdigit() and len(message) < 11:
                        self.drawn = max(self.drawn, int(message))
                        self._drawn.set()

        self._server = await serve(handler, "127.0.0.1", 0, process_request=process_request,
                                   max_size=2**16, compression=None)
        port = self._server.sockets[0].getsockname()[1]
        self._url = f"http://127.0.0.1:{port}{self._path}"
        return self._url

    async def send_json(self, _message: Any) -> None:
        pass

    async def send_screen(self, update: bytes) -> None:
        """Hand a frame to the page; return (and so let the helper ack it) once the page
        has drawn all but `PAGE_LAG` of the frames before it (at most 1 s later)."""
        if self._ws is None:
            return
        await self._ws.send(update)
        seq = peek_seq(update)
        deadline = time.monotonic() + 1.0
        while seq - self.drawn > PAGE_LAG and (left := deadline - time.monotonic()) > 0:
            self._drawn.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drawn.wait(), left)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


# --- text sharpness: what the helper sees of text, against the screen ---------------------


def _psnr(shown: Any, truth: Any) -> dict[str, float]:
    """PSNR (dB) of BGR(A) `shown` against `truth` over the text: the 16x16 cells of `truth`
    with a pixel unlike its top-left pixel (the background), and the share of their
    pixels off by more than 32 on some channel."""
    import numpy as np

    h, w = (truth.shape[0] // 16) * 16, (truth.shape[1] // 16) * 16
    truth, shown = truth[:h, :w, :3].astype(np.int16), shown[:h, :w, :3].astype(np.int16)
    ink = np.any(truth != truth[0, 0], axis=2).reshape(h // 16, 16, w // 16, 16).any(axis=(1, 3))
    mask = np.repeat(np.repeat(ink, 16, axis=0), 16, axis=1)
    diff = np.abs(shown - truth)[mask]
    mse = float(np.mean(diff.astype(np.float64) ** 2))
    psnr = 99.0 if mse == 0 else 10 * float(np.log10(255**2 / mse))
    return {"psnr_db": round(psnr, 2), "off_share": round(float(np.mean(diff.max(axis=1) > 32)),
                                                          4)}


def _text_screen(lines: int = 15) -> list[Any]:
    """Grabs of a maximised xterm showing source text, scrolled `lines` lines one by one."""
    import subprocess

    import numpy as np

    from ra.desktop.backend import X11Backend
    from ra.desktop.xvfb import xvfb

    source = ROOT / "ra" / "session" / "desktop.py"
    with xvfb(1920, 1080) as screen:
        cmd = f"cat {source}; sleep 2; for i in $(seq {lines}); do echo \"line $i of more text: " \
              f"the quick brown fox jumps over the lazy dog 0123456789\"; sleep 0.3; done; sleep 60"
        term = subprocess.Popen(["xterm", "-maximized", "-fa", "DejaVu Sans Mono", "-fs", "12",
                                 "-e", "bash", "-c", cmd], env=screen.env(),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        backend = X11Backend(screen.name)
        try:
            time.sleep(1.5)
            frames = [np.array(backend.grab(0))]
            time.sleep(1.0)
            for _ in range(lines):
                time.sleep(0.3)
                frame = np.array(backend.grab(0))
                if not np.array_equal(frame, frames[-1]):
                    frames.append(frame)
        finally:
            term.terminate()
            term.wait(10)
    return frames


def text_sharpness(bitrates: dict[str, float], codecs: list[str]) -> list[dict[str, Any]]:
    """Text as the helper sees it: the tile codec (browser-safe, as ra sends it) and each
    video codec at each bitrate, decoded (PyAV's decoders give the same pixels as the
    page's: H.264 and VP8 decoding is exact) and compared with the screen. ``static``:
    the text screen held for 1 s at 60 frames a second (first frame, and after 1 s);
    ``scrolling``: the xterm scrolling a line at a time, each new screen shown 4 times."""
    import av
    import numpy as np

    from ra.desktop.codec import TileDecoder, TileEncoder

    frames = _text_screen()
    height, width = frames[0].shape[:2]
    rows: list[dict[str, Any]] = []
    for quality in (30,):  # the pacer's floor for photo cells (text cells: JPEG 90, 4:4:4)
        encoder, decoder = TileEncoder(width, height, browser_safe=True), TileDecoder(width,
                                                                                       height)
        size = len((update := encoder.encode(frames[0], force_full=True,
                                             quality=quality)).to_bytes())
        decoder.apply(update)
        static = _psnr(decoder.framebuffer, frames[0])
        scores, sizes = [], []
        for frame in frames[1:]:
            update = encoder.encode(frame, quality=quality)
            sizes.append(len(update.to_bytes()))
            decoder.apply(update)
            scores.append(_psnr(decoder.framebuffer, frame))
        rows.append({"codec": f"tile (photo q{quality})", "link": "-", "first": static,
                     "settled": static, "first_kb": round(size / 1e3, 1),
                     "scrolling": _mean(scores),
                     "scroll_kb": round(statistics.mean(sizes) / 1e3, 1) if sizes else None})
    for codec in codecs:
        for name, bitrate in bitrates.items():
            desktop = VideoDesktop.__new__(VideoDesktop)
            desktop.encoder_name, desktop.bitrate, desktop.fps = CODECS[codec][1], int(bitrate), 60
            context = desktop._open(width, height)
            dec = av.CodecContext.create({"libx264": "h264", "libvpx": "vp8",
                                          "libvpx-vp9": "vp9"}[CODECS[codec][1]], "r")
            shown: list[Any] = []
            sizes = []
            sequence = [frames[0]] * 60 + [f for f in frames[1:] for _ in range(4)]
            for pts, frame in enumerate(sequence):
                picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="bgra")
                picture = picture.reformat(format="yuv420p")
                picture.pts = pts * 16
                for packet in context.encode(picture):
                    sizes.append(packet.size)
                    for out in dec.decode(packet):
                        shown.append(out.to_ndarray(format="bgra"))
            first, settled = _psnr(shown[0], frames[0]), _psnr(shown[59], frames[0])
            scrolling = [_psnr(shown[60 + 4 * i], f) for i, f in enumerate(frames[1:])
                         if 60 + 4 * i < len(shown)]
            rows.append({"codec": codec, "link": name, "first": first, "settled": settled,
                         "first_kb": round(sizes[0] / 1e3, 1), "scrolling": _mean(scrolling),
                         "scroll_kb": round(statistics.mean(sizes[60::4]) / 1e3, 1)})
    return rows


def _mean(scores: list[dict[str, float]]) -> dict[str, float] | None:
    if not scores:
        return None
    return {k: round(statistics.mean(s[k] for s in scores), 4) for k in scores[0]}


# --- the orchestrator ------------------------------------------------------------------------


def main(argv: list[str]) -> int:
    parser = link.cases_parser("python -m bench video", __doc__, rounds=1, seconds=15.0,
                               warmup=5.0, links="loopback,20mbit-40ms")
    parser.add_argument("--codecs", default="tile,h264")
    parser.add_argument("--loopback-mbit", type=float, default=30.0,
                        help="the video bitrate on loopback (elsewhere: 85 %% of the link)")
    parser.add_argument("--no-sharpness", action="store_true", help="skip the text check")
    parser.add_argument("--out", default=None)
    cfg = parser.parse_args(argv)
    links, workloads, codecs = (cfg.links.split(","), cfg.workloads.split(","),
                                cfg.codecs.split(","))
    if (any(n not in link.LINKS for n in links) or any(w not in link.WORKLOADS for w in workloads)
            or any(c != "tile" and c not in CODECS for c in codecs)):
        print(f"bench video: unknown link, workload or codec (links: {', '.join(link.LINKS)}; "
              f"workloads: {', '.join(link.WORKLOADS)}; codecs: tile, {', '.join(CODECS)})",
              file=sys.stderr)
        return 2
    if any(link.LINKS[n] for n in links) and os.geteuid() != 0:
        print("bench video: shaped links need root (network namespaces)", file=sys.stderr)
        return 2
    RESULTS.mkdir(exist_ok=True)
    samples: list[dict[str, Any]] = []
    loads: list[tuple[float, float, float]] = []
    with tempfile.TemporaryDirectory(prefix="ra-bench-video-") as tmpdir:
        for rnd in range(cfg.rounds):
            for name in links:
                bitrate = bitrate_for(name, cfg.loopback_mbit)
                for workload in workloads:
                    for codec in codecs:
                        log(f"round {rnd + 1}/{cfg.rounds}: {name} / {workload} / {codec}")
                        os.environ[ENV_CODEC] = codec
                        os.environ[ENV_BITRATE] = str(int(bitrate))
                        worker = "bench.link" if codec == "tile" else "bench.video"
                        sample = link.run_one(name, workload, codec, str(ROOT), cfg,
                                              Path(tmpdir) / f"{rnd}-{name}-{workload}-{codec}",
                                              worker=worker)
                        loads.append(os.getloadavg())
                        sample.update(round=rnd, loadavg=loads[-1],
                                      bitrate=None if codec == "tile" else int(bitrate))
                        samples.append(sample)
                        log("  " + json.dumps({k: sample.get(k) for k in (
                            "shown_per_s", "latency_ms_p50", "latency_ms_p95", "link_mbit_s",
                            "link_use", "stamp_unread", "cpu_percent", "page", "loadavg")}))
    sharp = []
    if not cfg.no_sharpness:
        log("text sharpness")
        sharp = text_sharpness({n: bitrate_for(n, cfg.loopback_mbit) for n in links},
                               [c for c in codecs if c != "tile"])
    result = {"suite": "video", "sharpness": sharp,
              "date": datetime.now(UTC).isoformat(timespec="seconds"),
              "command": "python -m bench video " + " ".join(argv),
              "config": {"rounds": cfg.rounds, "seconds": cfg.seconds, "warmup": cfg.warmup,
                         "links": {k: link.LINKS[k] for k in links}, "codecs": codecs,
                         "loopback_mbit": cfg.loopback_mbit},
              "machine": machine(), "samples": samples}
    date = datetime.now(UTC).strftime("%Y-%m-%d")
    path = Path(cfg.out) if cfg.out else RESULTS / f"video-{date}.json"
    path.write_text(json.dumps(result, indent=1))
    print(link.markdown(samples))
    if result["sharpness"]:
        print("\n| codec | link | text PSNR dB first / after 1 s / scrolling (px off > 32) "
              "| KB first / per scroll |\n|---|---|---|---|")
        for r in result["sharpness"]:
            print(f"| {r['codec']} | {r['link']} | {r['first']['psnr_db']} / "
                  f"{r['settled']['psnr_db']} / {r['scrolling']['psnr_db']} "
                  f"({r['scrolling']['off_share']:.1%}) | {r['first_kb']} / {r['scroll_kb']} |")
    print(f"\nload average during the runs (1 min): "
          f"{min(x[0] for x in loads):.2f}-{max(x[0] for x in loads):.2f}")
    print(f"results: {path}")
    return 0


# --- the workers: bench.link's, with the two parts swapped --------------------------------


def _worker(argv: list[str]) -> int:
    import ra.desktop.codec
    import ra.session.desktop
    import ra.viewer

    ra.session.desktop.X11Desktop = VideoDesktop  # type: ignore[misc,assignment]
    ra.viewer.ViewerServer = VideoPage  # type: ignore[misc,assignment]
    ra.desktop.codec.peek_seq = peek_seq
    return link._worker(argv)


if __name__ == "__main__":
    sys.exit(_worker(sys.argv[1:]))
