"""A session's recording read back: its events, its chunks, each checked before use.

`load_recording` reads a session's events from the log (the log is the
truth: a chunk exists for the replay only if a ``recording.chunk`` event
vouches for it) and lists its chunks in index order. `SessionRecording.frames`
reads one chunk file, checks it against its event (size and SHA-256 of the
stored bytes), decrypts it with the session's key and returns its frames; a
chunk that fails any of that raises `ChunkError` and is never shown.

`check_recordings` is what ``ra audit verify`` adds to the log's own checks:
for every ``recording.chunk`` event, in each session's order, the index runs
0, 1, 2, ... and the file is there with the size and SHA-256 the event holds.
A missing, edited, reordered or swapped chunk file is one problem each, at
the seq of the event that vouches for it. (It reads no key: a forgotten
session's recording is still checked.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ra.errors import InputError
from ra.events import EventStore, RecordedEvent
from ra.home import Home
from ra.recording.chunks import (
    EVENT_TYPE,
    KEY_PURPOSE,
    ChunkError,
    ChunkInfo,
    check_chunk,
    open_chunk,
    read_stored,
    recordings_root,
    session_folder,
)
from ra.session_keys import SessionKeyError, SessionKeys, check_session_id


class NoSuchSession(InputError):
    """No session in the log has this id."""


@dataclass(frozen=True)
class ChunkEntry:
    """One chunk as the log vouches for it (or a malformed event: `info` None)."""

    seq: int
    info: ChunkInfo | None
    problem: str | None = None
    """Why the event itself cannot be used, if it cannot."""


@dataclass
class SessionRecording:
    """A session's events and the recording they vouch for."""

    session_id: str
    folder: Path
    events: list[RecordedEvent]
    chunks: list[ChunkEntry] = field(default_factory=list)
    recording: str | None = None
    """What ``session.authenticated`` says: ``screen``, ``off``, or None if not said."""
    key: bytes | None = None
    key_problem: str | None = None

    @property
    def has_screen(self) -> bool:
        return bool(self.chunks)

    def no_screen_reason(self) -> str:
        if self.recording == "off":
            return "recording was off for this session ([recording] screen = false)"
        if any(e.type == "view.unavailable" for e in self.events):
            return "the screen was not shown in this session (chat only)"
        if not any(e.type == "view.started" for e in self.events):
            return "the screen was never shown in this session"
        return "this session has no recorded screen"

    def frames(self, entry: ChunkEntry) -> list[tuple[float, bytes]]:
        """The chunk's frames, checked against its event and decrypted (ChunkError)."""
        if entry.info is None:
            raise ChunkError(entry.problem or "a malformed recording.chunk event")
        if entry.problem is not None:
            raise ChunkError(entry.problem)
        stored = read_stored(self.folder, entry.info)
        check_chunk(stored, entry.info)  # before any key is used
        if self.key is None:
            raise ChunkError(self.key_problem or "no key for this recording")
        return open_chunk(stored, self.key, self.session_id, entry.info)


def load_recording(home: Home, store: EventStore, session_id: str) -> SessionRecording:
    """The session's events and chunks; its key if it still has one."""
    check_session_id(session_id)
    events = list(store.iter_events(stream=f"session:{session_id}"))
    if not events:
        raise NoSuchSession(f"no session {session_id} in this log")
    found = SessionRecording(session_id, session_folder(home.root, session_id), events)
    for event in events:
        if event.type == "session.authenticated" and "recording" in event.payload:
            found.recording = str(event.payload["recording"])
    found.chunks = _entries(events)
    if found.chunks:
        try:
            found.key = SessionKeys(home).key(session_id, KEY_PURPOSE)
        except SessionKeyError as exc:
            found.key_problem = str(exc)
    return found


def _entries(events: list[RecordedEvent]) -> list[ChunkEntry]:
    entries: list[ChunkEntry] = []
    for event in events:
        if event.type != EVENT_TYPE:
            continue
        try:
            info = ChunkInfo.from_payload(event.payload)
        except ChunkError as exc:
            entries.append(ChunkEntry(event.seq, None, str(exc)))
            continue
        problem = None
        if info.index != len(entries):
            problem = (f"chunk {info.index} is recorded where chunk {len(entries)} belongs")
        entries.append(ChunkEntry(event.seq, info, problem))
    return entries


def check_recordings(home_root: Path, store: EventStore) -> list[tuple[int, str]]:
    """(seq, what) for every recording chunk that is not what its event says."""
    problems: list[tuple[int, str]] = []
    sessions: dict[str, list[RecordedEvent]] = {}
    for event in store.iter_events(types=[EVENT_TYPE]):
        sessions.setdefault(event.stream, []).append(event)
    root = recordings_root(home_root)
    for stream, events in sessions.items():
        session_id = stream.split(":", 1)[1] if stream.startswith("session:") else ""
        try:
            folder = root / check_session_id(session_id)
        except (ValueError, SessionKeyError):
            problems += [(e.seq, f"a recording chunk in {stream}, which is not a session")
                         for e in events]
            continue
        for entry in _entries(sorted(events, key=lambda e: e.stream_version)):
            where = f"recording of session {session_id}"
            if entry.info is None or entry.problem is not None:
                problems.append((entry.seq, f"{where}: {entry.problem}"))
                continue
            try:
                check_chunk(read_stored(folder, entry.info), entry.info)
            except ChunkError as exc:
                problems.append((entry.seq, f"{where}: {exc}"))
    return problems


__all__ = [
    "ChunkEntry",
    "NoSuchSession",
    "SessionRecording",
    "check_recordings",
    "load_recording",
]
