"""The recorded screen of a session: replayed in the browser, or exported as a video.

`run_screen` serves the replay page (`ra.viewer.replay.ReplayServer`) on
127.0.0.1 with a one-time token and hands the browser only the path of an
opener file (`ra.viewer.opener`), like `ra connect`; it runs until the page
is closed (or Ctrl-C). `run_video` writes an MP4 or WebM file
(`ra.recording.video`). A session without a recorded screen says why in one
line (exit 0): recording was off, or the screen was never shown. A log that
does not verify is said first, on stderr, and the exit code is 1.

``ra audit replay SESSION --screen [--no-browser]`` and ``--video OUT`` call them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

from ra.cli.common import (
    UsageError,
    home_of,
    log_problem,
    open_existing_store,
    say,
    warn_altered,
)
from ra.cli.render import progress

if TYPE_CHECKING:
    from ra.recording.store import SessionRecording


def _recording(home: Path | None, session: str) -> tuple[SessionRecording, int]:
    """The session's recording, and the exit code it ends with: 1 when the log does
    not verify (said first, on stderr), else 0."""
    from ra.recording.store import find_session, load_recording

    found = home_of(home)
    with open_existing_store(home) as store:
        recording = load_recording(found, store, find_session(store, session))
        problem = log_problem(store)
    if problem is None:
        return recording, 0
    warn_altered(problem)
    return recording, 1


def run_screen(home: Path | None, session: str, *, open_browser: bool = True) -> int:
    """Serve the replay of `session`'s screen until the page closes; the exit code."""
    recording, code = _recording(home, session)
    if not recording.has_screen:
        say(f"session {recording.session_id}: no screen to replay: "
            f"{recording.no_screen_reason()}")
        return code
    asyncio.run(_serve(home, recording, open_browser))
    return code


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


def run_video(home: Path | None, session: str, out: Path) -> int:
    """Write `session`'s recorded screen to `out` (.mp4 or .webm); the exit code."""
    from ra.recording.video import CODECS, export_video

    if out.suffix.lower() not in CODECS:
        raise UsageError(f"--video {out}: give a file ending in .mp4 or .webm")
    recording, code = _recording(home, session)
    if not recording.has_screen:
        say(f"session {recording.session_id}: no screen to export: "
            f"{recording.no_screen_reason()}")
        return code
    with progress("exporting", unit="chunks") as step:
        report = export_video(recording, out, progress=step)
    bad = f", {report.bad_chunks} bad chunk(s) shown as such" if report.bad_chunks else ""
    width, height = report.size
    say(f"wrote {out}: {report.frames} frames, {width}x{height}, "
        f"{report.chapters} chapters{bad}")
    return code


__all__ = ["run_screen", "run_video"]
