"""The recorded screen of a session: replayed in the browser, or exported as a video.

`run_screen` serves the replay page (`ra.viewer.replay.ReplayServer`) on
127.0.0.1 with a one-time token and hands the browser only the path of an
opener file (`ra.viewer.opener`), like `ra connect`; it runs until the page
is closed (or Ctrl-C). `run_video` writes an MP4 or WebM file
(`ra.recording.video`). A session without a recorded screen says why in one
line (exit 0): recording was off, or the screen was never shown.

``ra audit replay SESSION --screen [--no-browser]`` and ``--video OUT`` call them,
with the session `ra audit replay` found and after it has checked the log.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from ra.cli.common import UsageError, home_of, open_existing_store, say
from ra.cli.render import progress

if TYPE_CHECKING:
    from ra.recording.store import SessionRecording


def _recording(home: Path | None, session_id: str) -> SessionRecording:
    from ra.recording.store import load_recording

    with open_existing_store(home) as store:
        return load_recording(home_of(home), store, session_id)


def run_screen(home: Path | None, session_id: str, *, open_browser: bool = True) -> int:
    """Serve the replay of the session's screen until the page closes; the exit code."""
    recording = _recording(home, session_id)
    if not recording.has_screen:
        say(f"session {recording.session_id}: no screen to replay: "
            f"{recording.no_screen_reason()}")
        return 0
    asyncio.run(_serve(home, recording, open_browser))
    return 0


async def _serve(home: Path | None, recording: object, open_browser: bool) -> None:
    from ra.ctrl_c import on_ctrl_c
    from ra.recording.store import SessionRecording
    from ra.viewer.opener import launch_browser, private_folder, remove_opener, write_opener
    from ra.viewer.replay import ReplayServer

    assert isinstance(recording, SessionRecording)
    server = ReplayServer(recording)
    url = await server.start()
    opener = write_opener(url, private_folder(home_of(home).root))
    stop = asyncio.Event()
    with on_ctrl_c(stop.set):
        try:
            if open_browser:
                say(f"replay: opening {opener.as_uri()} in your browser")
                launch_browser(opener)
            else:
                say(f"replay: open {opener.as_uri()} in your browser (only you can read that file)")
            waiting = asyncio.create_task(stop.wait())
            connected = asyncio.create_task(server.connected.wait())
            await asyncio.wait({waiting, connected}, return_when=asyncio.FIRST_COMPLETED)
            remove_opener(opener)  # the token is used up (or we are stopping)
            if connected.done():
                say("replay: the page is open; close it (or press Ctrl-C) to stop")
                gone = asyncio.create_task(server.disconnected.wait())
                await asyncio.wait({waiting, gone}, return_when=asyncio.FIRST_COMPLETED)
                gone.cancel()
            waiting.cancel()
            connected.cancel()
        finally:
            remove_opener(opener)
            await server.close()


def run_video(home: Path | None, session_id: str, out: Path) -> int:
    """Write the session's recorded screen to `out` (.mp4 or .webm); the exit code."""
    from ra.recording.video import CODECS, export_video

    if out.suffix.lower() not in CODECS:
        raise UsageError(f"--video {out}: give a file ending in .mp4 or .webm")
    recording = _recording(home, session_id)
    if not recording.has_screen:
        say(f"session {recording.session_id}: no screen to export: "
            f"{recording.no_screen_reason()}")
        return 0
    with progress("exporting", unit="chunks") as step:
        report = export_video(recording, out, progress=step)
    bad = f", {report.bad_chunks} bad chunk(s) shown as such" if report.bad_chunks else ""
    width, height = report.size
    say(f"wrote {out}: {report.frames} frames, {width}x{height}, "
        f"{report.chapters} chapters{bad}")
    return 0


__all__ = ["run_screen", "run_video"]
