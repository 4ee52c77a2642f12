"""`python -m bench video`: the video path's encoder settings, its text metric, its usage."""

from __future__ import annotations

import subprocess
import sys

import av
import numpy as np

from bench.video import HEADER, VideoDesktop, _psnr, peek_seq


def _screen(width: int, height: int, shift: int) -> np.ndarray:
    """Black-on-white 'text': 2-pixel strokes in 8x16 cells, shifted `shift` rows."""
    rng = np.random.default_rng(7)
    frame = np.full((height, width, 4), 255, dtype=np.uint8)
    ink = rng.random((height // 16, width // 8)) < 0.4
    for row, col in zip(*np.nonzero(ink), strict=True):
        frame[row * 16 + 3 : row * 16 + 13, col * 8 + 2 : col * 8 + 4, :3] = 0
    return np.roll(frame, -shift, axis=0)


def test_realtime_h264_gives_each_frame_at_once_and_the_text_back() -> None:
    desktop = VideoDesktop.__new__(VideoDesktop)
    desktop.encoder_name, desktop.bitrate, desktop.fps = "libx264", 4_000_000, 60
    encoder = desktop._open(320, 240)
    decoder = av.CodecContext.create("h264", "r")
    for n in range(8):
        screen = _screen(320, 240, 16 * n)
        picture = av.VideoFrame.from_ndarray(screen, format="bgra").reformat(format="yuv420p")
        picture.pts = n * 16
        packets = encoder.encode(picture)
        assert len(packets) == 1  # no lookahead, no B-frames: the frame leaves with its input
        assert packets[0].is_keyframe == (n == 0)
        shown = [f.to_ndarray(format="bgra") for p in packets for f in decoder.decode(p)]
        assert len(shown) == 1  # and is shown from that packet alone
        assert _psnr(shown[0], screen)["psnr_db"] > 30


def test_text_metric_counts_only_cells_with_ink() -> None:
    truth = np.full((64, 64, 4), 255, dtype=np.uint8)
    truth[20:24, 20:24, :3] = 0  # one glyph in the cell at (16, 16)
    shown = truth.copy()
    assert _psnr(shown, truth) == {"psnr_db": 99.0, "off_share": 0.0}
    shown[20:24, 20:24, :3] = 255  # the glyph lost: 16 of the cell's 256 pixels
    assert _psnr(shown, truth)["off_share"] == 16 / 256
    shown = truth.copy()
    shown[40:, 40:, :3] = 0  # blank cells are not text: not counted
    assert _psnr(shown, truth)["psnr_db"] == 99.0


def test_the_frame_header_carries_the_seq_the_helper_acks() -> None:
    assert peek_seq(HEADER.pack(123456, 1, 1) + b"\x00\x00\x00\x01") == 123456


def test_unknown_codec_is_a_one_line_usage_error() -> None:
    result = subprocess.run([sys.executable, "-m", "bench", "video", "--codecs", "tile,h265",
                             "--links", "loopback"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "unknown link, workload or codec" in result.stderr
