"""The live recorder's chunking (`ra.recording.recorder.ScreenRecorder`), on a fake clock.

Real chunk files in a temporary folder, encrypted under a random key, read
back with `open_chunk`; the clock is the recorder's `wall`, moved by hand.
The live session that records is in test_recording.py.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from ra.recording.chunks import ChunkInfo, open_chunk, read_stored
from ra.recording.recorder import ScreenRecorder

SESSION = "a1b2c3d4e5f6a7b8"
MB = 1024 * 1024


def test_a_chunk_that_holds_chunk_bytes_ends_at_the_next_keyframe_however_young(
        tmp_path: Path) -> None:
    key = os.urandom(32)
    folder = tmp_path / "recordings" / SESSION
    chunks: list[ChunkInfo] = []
    now = [1000.0]

    async def record() -> list[bool]:
        recorder = ScreenRecorder(folder, key, SESSION, chunks.append, chunk_s=5.0,
                                  chunk_bytes=3 * MB, wall=lambda: now[0])
        asked = []
        recorder.add(b"K" * MB, True)  # a keyframe starts the chunk
        for _ in range(3):  # a whole-screen change ten times a second
            now[0] += 0.1
            asked.append(recorder.due())  # the third time: 3 MB in 0.2 s, a keyframe next
            recorder.add(b"u" * MB, False)
        now[0] += 0.1
        asked.append(recorder.due())  # asked once only
        recorder.add(b"K" * MB, True)  # the keyframe: the chunk ends, another starts
        now[0] += 0.1
        asked.append(recorder.due())
        recorder.add(b"u" * 10, False)
        await recorder.close()
        return asked

    asked = asyncio.run(record())
    assert asked == [False, False, True, False, False]
    assert [c.frames for c in chunks] == [4, 2]
    assert chunks[0].end - chunks[0].start < 1.0  # far younger than chunk_s
    first = open_chunk(read_stored(folder, chunks[0]), key, SESSION, chunks[0])
    second = open_chunk(read_stored(folder, chunks[1]), key, SESSION, chunks[1])
    assert first[0][1] == b"K" * MB and second[0][1] == b"K" * MB  # each starts with a keyframe
    assert [len(data) for _t, data in first + second] == [MB] * 5 + [10]

