"""The replay of a recorded session in the viewer page: served on 127.0.0.1, one token.

`ReplayServer` is a `ViewerServer` (the same one-time token, Host and Origin
checks, same-account check on every connection, opener file) that serves
the replay page (``replay.html``: the screen decoder of the live viewer,
``screen.js``, and ``replay.js``) and answers its WebSocket with the
session's recording instead of a live session:

- on connect, one ``replay`` message: the session, its events (time, type,
  who, a one-line summary, the timeline mark), its chunks (index, time span,
  frames) and, when it has no screen, why;
- the page asks for a chunk (``{"type": "chunk", "index": N}``); the server
  reads the file, checks it against its ``recording.chunk`` event (size,
  SHA-256), decrypts it, and sends either the chunk as one binary message
  (``index u32, count u32``, then per frame ``time f64, length u32, update
  bytes``, big-endian) or ``{"type": "chunk.bad", "index": N, "reason": …}``;
  a bad chunk is never sent, so it cannot be played;
- in the background every chunk is checked in order and each result is sent
  as ``{"type": "chunk.status", "index": N, "ok": …, "reason": …}`` so the
  timeline shows bad chunks before the playhead reaches them.

What the page asks for comes first: a chunk is checked when it is asked for
(the first frame of a long recording waits for one chunk, not for them all;
the list of chunks was checked against the log up-front, `load_recording`).
The background check starts once the first chunk asked for is sent (or
`CHECK_AFTER_S` after the page connects, if it asks for none), pauses while
a chunk asked for is being served, and does not check again a chunk it
served or refused (its result is known).

Everything from the log that the page shows (names, chat) is sent as text
and set as text by the page, never as markup.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from ra.logs import get_logger
from ra.recording.chunks import EVENT_TYPE, ChunkError, check_chunk, read_stored
from ra.recording.marks import MARKS, summary, who
from ra.recording.store import SessionRecording
from ra.viewer.server import ViewerServer, build_page

_log = get_logger("ra.viewer")

FRAME = struct.Struct(">dI")
CHUNK_HEADER = struct.Struct(">II")
#: How long the background check waits for the page's first chunk request.
CHECK_AFTER_S = 1.0


def replay_message(recording: SessionRecording) -> dict[str, Any]:
    """The ``replay`` message: everything the page needs before the first chunk."""
    events = [{"seq": e.seq, "t": e.occurred_at.timestamp(), "type": e.type,
               "who": who(e), "text": summary(e), "mark": MARKS.get(e.type)}
              for e in recording.events if e.type != EVENT_TYPE]
    chunks: list[dict[str, Any]] = []
    for entry in recording.chunks:
        info = entry.info
        chunks.append({"index": len(chunks), "start": info.start if info else None,
                       "end": info.end if info else None,
                       "frames": info.frames if info else 0,
                       "bad": entry.problem})
    times: list[float] = [e.occurred_at.timestamp() for e in recording.events
                          if e.type != EVENT_TYPE]
    times += [float(c[k]) for c in chunks for k in ("start", "end") if c[k] is not None]
    return {
        "type": "replay",
        "session": recording.session_id,
        "start": min(times) if times else 0.0,
        "end": max(times) if times else 0.0,
        "events": events,
        "chunks": chunks,
        "no_screen": None if recording.has_screen else recording.no_screen_reason(),
    }


def chunk_bytes(index: int, frames: list[tuple[float, bytes]]) -> bytes:
    """A checked chunk as one binary message for the page."""
    parts = [CHUNK_HEADER.pack(index, len(frames))]
    for moment, data in frames:
        parts.append(FRAME.pack(moment, len(data)))
        parts.append(data)
    return b"".join(parts)


class ReplayServer(ViewerServer):
    """The viewer's server, serving one session's replay (see the module)."""

    def __init__(self, recording: SessionRecording) -> None:
        super().__init__(self._ignore)
        self.recording = recording
        self.chunks_sent = 0
        self.chunks_refused = 0
        self.chunks_checked = 0
        self._serving = False
        self._known: dict[int, str | None] = {}
        """Chunk index -> why it failed its check (None: it passed), once served."""

    @staticmethod
    def _ignore(message: dict[str, Any]) -> None:
        return None

    def _build_page(self) -> str:
        return build_page("ra replay", "replay.html", ["viewer.css", "replay.css"],
                          ["screen.js", "page.js", "replay.js"])

    def _load(self, index: int) -> tuple[list[tuple[float, bytes]] | None, str | None]:
        """A chunk's frames, checked and decrypted, or why it cannot be shown."""
        try:
            frames = self.recording.frames(self.recording.chunks[index])
        except ChunkError as exc:
            self._known[index] = str(exc)
            return None, str(exc)
        self._known[index] = None
        return frames, None

    async def _handler(self, ws: ServerConnection) -> None:
        if self._ws is not None or self._gone:
            await ws.close(1008, "already connected")
            return
        self._ws = ws
        self.connected.set()
        _log.info("viewer.replay.connected")
        checker: asyncio.Task[None] | None = None
        idle = asyncio.Event()  # set once a chunk asked for was served, cleared while one is
        try:
            await ws.send(json.dumps(replay_message(self.recording), ensure_ascii=False))
            checker = asyncio.create_task(self._check_all(ws, idle))
            async for raw in ws:
                index = self._requested(raw)
                if index is None:
                    continue
                idle.clear()
                self._serving = True
                try:
                    frames, reason = await asyncio.to_thread(self._load, index)
                    if frames is None:
                        self.chunks_refused += 1
                        await ws.send(json.dumps({"type": "chunk.bad", "index": index,
                                                  "reason": reason}))
                    else:
                        self.chunks_sent += 1
                        await ws.send(chunk_bytes(index, frames))
                finally:
                    self._serving = False
                    idle.set()
        except ConnectionClosed:
            pass
        finally:
            if checker is not None:
                checker.cancel()
            self._gone = True
            self.disconnected.set()
            _log.info("viewer.replay.disconnected")

    def _requested(self, raw: str | bytes) -> int | None:
        """The chunk index a page message asks for, or None."""
        if not isinstance(raw, str):
            return None
        try:
            message = json.loads(raw)
        except (ValueError, RecursionError):
            return None
        if not isinstance(message, dict) or message.get("type") != "chunk":
            return None
        index = message.get("index")
        if (not isinstance(index, int) or isinstance(index, bool)
                or not 0 <= index < len(self.recording.chunks)):
            return None
        return index

    async def _check_all(self, ws: ServerConnection, idle: asyncio.Event) -> None:
        """Check every chunk in order, after and between what the page asks for; tell
        the page each result."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(idle.wait(), CHECK_AFTER_S)
        for index in range(len(self.recording.chunks)):
            while self._serving:  # the page's request first
                await idle.wait()
            if index in self._known:
                reason = self._known[index]
            else:
                reason = await asyncio.to_thread(self._check, index)
                self.chunks_checked += 1
            await ws.send(json.dumps({"type": "chunk.status", "index": index,
                                      "ok": reason is None, "reason": reason}))

    def _check(self, index: int) -> str | None:
        """Why a chunk's file is not the one its event names (None: it is)."""
        entry = self.recording.chunks[index]
        if entry.info is None or entry.problem is not None:
            return entry.problem or "a malformed recording.chunk event"
        try:
            check_chunk(read_stored(self.recording.folder, entry.info), entry.info)
        except ChunkError as exc:
            return str(exc)
        return None


__all__ = ["ReplayServer", "chunk_bytes", "replay_message"]
