"""A recorded session as a standard video file (MP4 H.264 or WebM VP9), through PyAV.

Every recorded update is one video frame, stamped with the time it was sent
(milliseconds from the start of the session, so pauses last as long as they
did): the video shows what the helper was sent, when. Each chunk is checked
against its event (`SessionRecording.frames`) before any of its frames is
used; a bad chunk becomes one dark red frame at its start, and its chapter
says why. The session's marked events (consent, control, release, chat, the
ending) are chapters of the file, with a one-line title each.

Frames are BGRA from `ra.desktop.codec.TileDecoder`; the video's size is the
first frame's (rounded down to even sides for 4:2:0); a later frame of
another size is drawn into it from the top left.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from ra.desktop.codec import TileDecoder, UpdateFormatError, decode_update
from ra.errors import InputError
from ra.recording.chunks import ChunkError
from ra.recording.marks import MARKS, summary
from ra.recording.store import SessionRecording

MS = Fraction(1, 1000)
CODECS = {".mp4": "libx264", ".webm": "libvpx-vp9", ".mkv": "libx264"}
BAD_BGRA = (20, 20, 120, 255)


class VideoError(InputError):
    """The video cannot be made: no screen to show, or a file type ra cannot write."""


@dataclass
class VideoReport:
    """What `export_video` wrote: its frames, the chunks shown as bad, its chapters, and
    the frames' size (width, height; even, as yuv420p needs)."""

    frames: int = 0
    bad_chunks: int = 0
    chapters: int = 0
    size: tuple[int, int] = (0, 0)


def export_video(recording: SessionRecording, out: Path,
                 progress: Callable[[int, int], None] | None = None) -> VideoReport:
    """Write `recording` to `out` (.mp4, .webm or .mkv); what was written."""
    import av  # imported here: only export needs it

    codec = CODECS.get(out.suffix.lower())
    if codec is None:
        raise VideoError(f"cannot write {out.name}: give a file ending in .mp4 or .webm")
    if not recording.has_screen:
        raise VideoError(f"no screen to export: {recording.no_screen_reason()}")
    t0 = min([e.occurred_at.timestamp() for e in recording.events]
             + [c.info.start for c in recording.chunks if c.info is not None])
    report = VideoReport()
    chapters = _chapters(recording, t0)
    container = av.open(str(out), "w")
    try:
        stream: av.VideoStream | None = None
        decoder: TileDecoder | None = None
        last_pts = -1
        total = len(recording.chunks)
        for number, entry in enumerate(recording.chunks):
            try:
                frames = recording.frames(entry)
                bad = None
            except ChunkError as exc:
                frames, bad = [], str(exc)
            if bad is not None:
                report.bad_chunks += 1
                start = entry.info.start if entry.info is not None else t0
                chapters.append((start - t0, f"chunk {number} is bad and not shown: {bad}"))
                if stream is not None:
                    last_pts = _write(container, stream, _filled(report), start - t0,
                                      last_pts)
                    report.frames += 1
                continue
            decoder = None  # every chunk starts with a keyframe
            for moment, data in frames:
                try:
                    update = decode_update(data)
                    if decoder is None or (decoder.width, decoder.height) != (
                            update.width, update.height):
                        decoder = TileDecoder(update.width, update.height)
                    decoder.apply(update)
                except UpdateFormatError:
                    continue  # checked and decrypted, yet not an update: skipped
                if stream is None:
                    report.size = update.width & ~1, update.height & ~1
                    added = container.add_stream(codec)
                    assert isinstance(added, av.VideoStream)
                    stream = added
                    stream.width, stream.height = report.size
                    stream.pix_fmt = "yuv420p"
                    stream.time_base = MS
                    stream.codec_context.time_base = MS
                last_pts = _write(container, stream, _fit(decoder.framebuffer, report),
                                  moment - t0, last_pts)
                report.frames += 1
            if progress is not None:
                progress(number + 1, total)
        if stream is None:
            raise VideoError("no chunk of this recording passed its check: nothing to show")
        for packet in stream.encode():
            container.mux(packet)
        end = int(last_pts) + 1
        chapters.sort()
        marks = [(max(0, int(round(at * 1000))), title) for at, title in chapters]
        container.set_chapters([
            {"id": i + 1, "start": start,
             "end": max(start + 1, marks[i + 1][0] if i + 1 < len(marks) else end),
             "time_base": MS, "metadata": {"title": title}}
            for i, (start, title) in enumerate(marks)])
        report.chapters = len(marks)
    finally:
        container.close()
    return report


def _chapters(recording: SessionRecording, t0: float) -> list[tuple[float, str]]:
    return [(e.occurred_at.timestamp() - t0, summary(e))
            for e in recording.events if e.type in MARKS]


def _fit(frame: np.ndarray, report: VideoReport) -> np.ndarray:
    """`frame` as the video's size: cropped, or drawn into black from the top left."""
    w, h = report.size
    if frame.shape[0] >= h and frame.shape[1] >= w:
        return np.ascontiguousarray(frame[:h, :w])
    out = np.zeros((h, w, 4), dtype=np.uint8)
    out[:, :, 3] = 255
    fh, fw = min(h, frame.shape[0]), min(w, frame.shape[1])
    out[:fh, :fw] = frame[:fh, :fw]
    return out


def _filled(report: VideoReport) -> np.ndarray:
    w, h = report.size
    return np.tile(np.array(BAD_BGRA, dtype=np.uint8), (h, w, 1))


def _write(container: object, stream: object, bgra: np.ndarray, at: float,
           last_pts: int) -> int:
    import av

    frame = av.VideoFrame.from_ndarray(bgra, format="bgra").reformat(format="yuv420p")
    pts = max(last_pts + 1, int(round(at * 1000)))
    frame.pts = pts
    frame.time_base = MS
    for packet in stream.encode(frame):  # type: ignore[attr-defined]
        container.mux(packet)  # type: ignore[attr-defined]
    return pts


__all__ = ["VideoError", "VideoReport", "export_video"]
