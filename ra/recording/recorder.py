"""The live recorder: keeps what the person's side sends, in chunks, off the hot path.

`ScreenRecorder.add` is called by the screen sender with each update's wire
bytes right after they went to the helper, on the event loop; it only
appends to a list. A chunk ends when it is `chunk_s` seconds old, or holds
`chunk_bytes` (`CHUNK_BYTES`) of updates, and a keyframe arrives: `due`
(asked by the capture loop at every capture, idle or not) says once per
chunk that it is time for one, and the desktop forces its encoder to make
it. So every chunk starts with a keyframe, and an idle screen still ends
its chunk in time. The byte bound keeps what a replay fetches and draws to
seek into a chunk (and what the recorder holds in memory) small when the
whole screen changes many times a second; such a screen's updates are
nearly whole frames anyway, so the extra keyframes cost little.

A chunk that ends is sealed (`ra.recording.chunks.seal`: encrypted under
the session's recording key) and written on one worker thread, as a new
0600 file, flushed to disk; only then is its `ChunkInfo` handed to
`on_chunk` on the loop, whose job is to record the ``recording.chunk``
event. Chunks are written and reported in index order. `close` ends the
last chunk and waits for every write: after it, every chunk is on disk and
has been reported. A write that fails is logged and reported nowhere: the
recording then has a gap the log does not vouch for, never a chunk it
vouches for that is not on disk.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ra.home import private_folder
from ra.logs import get_logger
from ra.recording.chunks import ChunkInfo, seal

_log = get_logger("ra.recording")

CHUNK_S = 5.0
#: A chunk that holds this many bytes of updates ends at the next keyframe, however young.
CHUNK_BYTES = 8 * 1024 * 1024


class ScreenRecorder:
    """Records one session's screen updates into ``folder`` (see the module)."""

    def __init__(
        self,
        folder: Path,
        key: bytes,
        session_id: str,
        on_chunk: Callable[[ChunkInfo], None],
        *,
        chunk_s: float = CHUNK_S,
        chunk_bytes: int = CHUNK_BYTES,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.folder = folder
        self._encrypt = functools.partial(seal, key, session_id)
        """Encrypts one chunk's updates under the session's recording key."""
        self._on_chunk = on_chunk
        self.chunk_s = chunk_s
        self.chunk_bytes = chunk_bytes
        self._wall = wall
        self._frames: list[tuple[float, bytes]] = []
        self._bytes = 0  # of the updates in the chunk being made
        self._asked = False
        self._index = 0
        self._closed = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ra-recorder")
        self._last: asyncio.Task[None] | None = None
        self.chunks_written = 0
        self.bytes_written = 0

    def add(self, data: bytes, keyframe: bool) -> None:
        """One update as sent (on the loop): it joins the chunk, or a keyframe starts one."""
        if self._closed:
            return
        now = self._wall()
        if keyframe and self._frames and self._full(now):
            self._seal()
        self._frames.append((now, data))
        self._bytes += len(data)

    def due(self) -> bool:
        """True once a chunk is old or big enough to end: the next update should be a
        keyframe."""
        if self._closed or self._asked or not self._frames:
            return False
        if self._full(self._wall()):
            self._asked = True
            return True
        return False

    def _full(self, now: float) -> bool:
        return now - self._frames[0][0] >= self.chunk_s or self._bytes >= self.chunk_bytes

    def _seal(self) -> None:
        frames, self._frames = self._frames, []
        self._bytes = 0
        self._asked = False
        index, self._index = self._index, self._index + 1
        previous = self._last
        loop = asyncio.get_running_loop()
        self._last = loop.create_task(self._write(index, frames, previous))

    async def _write(self, index: int, frames: list[tuple[float, bytes]],
                     previous: asyncio.Task[None] | None) -> None:
        loop = asyncio.get_running_loop()
        try:
            info = await loop.run_in_executor(self._executor, self._write_file, index, frames)
        except Exception as exc:  # a full disk: the log vouches for nothing not written
            _log.error("recording.chunk_not_written", index=index,
                       error=type(exc).__name__, detail=str(exc))
            info = None
        if previous is not None:  # report in index order
            await asyncio.shield(previous)
        if info is not None:
            self.chunks_written += 1
            self.bytes_written += info.size
            self._on_chunk(info)

    def _write_file(self, index: int, frames: list[tuple[float, bytes]]) -> ChunkInfo:
        """On the worker: encrypt, then write a new file and flush it to disk."""
        stored, info = self._encrypt(index, frames)
        private_folder(self.folder, parents=True)
        path = self.folder / info.file
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags, 0o600)
        try:
            view = memoryview(stored)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        return info

    async def close(self) -> None:
        """End the last chunk and wait until every chunk is written and reported."""
        if not self._closed:
            self._closed = True
            if self._frames:
                self._seal()
        if self._last is not None:
            await asyncio.shield(self._last)
        self._executor.shutdown(wait=False)


__all__ = ["CHUNK_S", "ScreenRecorder"]
