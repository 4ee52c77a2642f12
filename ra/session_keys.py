"""One secret key per session: what seals the session's chat and its screen recording.

A session's key lives in ``RA_HOME/keystore/sessions/<session id>.key``
(mode 0600, folders 0700), never in the log, an event or a log line. It is
made the first time something of the session must be sealed
(``key_for(session_id)``) and read back with ``create=False``. Each side of a
session keeps its own key for its own log: the two logs never share one.

Forgetting a session (`ra.forget`) is `destroy`: the key file is overwritten,
then removed, and a tombstone (``<session id>.forgotten``, empty) is left in
its place, so nothing makes that session a key again: a session forgotten
while it is still running cannot start sealing under a new key, and
``key_for`` returns None for it from then on. What was sealed with the key
stays in the log (the Merkle tree covers it) and can never be opened again.

Each use gets its own key, derived with HKDF-SHA256 from the session's key
and a purpose label (``chat``, ``recording``: `SessionKeys.key_for(session_id,
purpose)`), so two uses never share a key.

Writes are atomic and private (`ra.files.write_private`), destruction is
`ra.files.shred`, and every look at the folder holds its lock
(`ra.files.locked`, ``.lock``): a reader never sees a key half written or half
shredded, and two processes never make two keys for one session. Reading
creates nothing when there is no folder yet (`ra audit log` on a fresh home
stays read-only).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ra.errors import InputError
from ra.files import (
    create_private,
    folder_names,
    is_stale_temp,
    locked,
    raise_as,
    shred,
    stored_ids,
    write_private,
)
from ra.home import Home, private_folder

#: Bytes of a session key (AES-256).
KEY_BYTES = 32
KEY_SUFFIX = ".key"
FORGOTTEN_SUFFIX = ".forgotten"
#: A session id as a file name: no separators, no leading dot.
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}$")
_PURPOSE = re.compile(r"^[a-z][a-z0-9.-]{0,63}$")


class SessionKeyError(InputError):
    """A session's key cannot be read, written or destroyed; the message names the file."""


class SessionKeys:
    """``RA_HOME/keystore/sessions``: one key per session, made on first use."""

    def __init__(self, home: Home) -> None:
        self.root = home.keystore_dir / "sessions"
        self._keystore = home.keystore_dir

    # -- the API ------------------------------------------------------------

    def key_for(self, session_id: str, purpose: str, *, create: bool = True) -> bytes | None:
        """The session's key of `purpose` (``chat``, ``recording``); the session's key
        is made now if it has none and `create` is true.

        None when the session has no key and `create` is false, and always once
        the session was forgotten (its key destroyed): a forgotten session never
        gets a key again.
        """
        if not _PURPOSE.match(purpose):
            raise ValueError(f"not a key purpose: {purpose!r}")
        master = self._master(session_id, create=create)
        if master is None:
            return None
        return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                    info=b"ra session key\x00" + purpose.encode()).derive(master)

    def key(self, session_id: str, purpose: str, *, create: bool = False) -> bytes:
        """`key_for`, or SessionKeyError when the session has no key (any more)."""
        key = self.key_for(session_id, purpose, create=create)
        if key is None:
            raise SessionKeyError(
                f"no key is kept for session {session_id}: it was forgotten, or it ran "
                "in another RA_HOME")
        return key

    def has(self, session_id: str) -> bool:
        """Whether the session has a key here (never once it was forgotten)."""
        _check(session_id)
        return self._path(session_id).is_file() and not self._tombstone(session_id).exists()

    def _master(self, session_id: str, *, create: bool) -> bytes | None:
        _check(session_id)
        if not create and not self.root.is_dir():
            return None  # reading creates nothing
        with self._lock(create=create):
            if self._tombstone(session_id).exists():
                return None
            key = self._read(session_id)
            if key is not None or not create:
                return key
            key = secrets.token_bytes(KEY_BYTES)
            data = json.dumps({"session_id": session_id,
                               "key": base64.b64encode(key).decode("ascii")}).encode()
            path = self._path(session_id)
            with raise_as(SessionKeyError, f"cannot write the session key {path}"):
                write_private(path, data)
            return key

    def destroy(self, session_id: str) -> bool:
        """Destroy the session's key for good; True if there was one to destroy.

        The tombstone is written first, then the key is overwritten and removed:
        a process killed in between leaves a key nothing will hand out, which
        the next `destroy` (or `sweep`) removes.
        """
        _check(session_id)
        with self._lock(create=True):
            tombstone = self._tombstone(session_id)
            with raise_as(SessionKeyError, f"cannot mark the session key {tombstone} as destroyed"):
                create_private(tombstone, b"")
            path = self._path(session_id)
            with raise_as(SessionKeyError, f"cannot destroy the session key {path}"):
                return shred(path)

    # -- for retention --------------------------------------------------------

    def ids(self) -> list[str]:
        """The sessions that have a key here (forgotten ones have none)."""
        return stored_ids(self._names(), KEY_SUFFIX)

    def forgotten(self, session_id: str) -> bool:
        """Whether the session's key was destroyed here."""
        _check(session_id)
        return self._tombstone(session_id).exists()

    def sweep(self) -> list[str]:
        """Destroy what a process killed mid-way left: the temporary file of a key
        write cut short, and a key whose session is already marked destroyed.
        Returns the names removed; creates nothing."""
        if not self.root.is_dir():
            return []
        removed: list[str] = []
        with self._lock(create=False):
            for name in self._names():
                stale = is_stale_temp(name)
                if name.endswith(KEY_SUFFIX) and not name.startswith("."):
                    stale = (self.root / (name[: -len(KEY_SUFFIX)] + FORGOTTEN_SUFFIX)).exists()
                if stale:
                    with raise_as(SessionKeyError, f"cannot destroy {self.root / name}"):
                        shred(self.root / name)
                    removed.append(name)
        return removed

    # -- the files ------------------------------------------------------------

    def _path(self, session_id: str) -> Path:
        return self.root / f"{session_id}{KEY_SUFFIX}"

    def _tombstone(self, session_id: str) -> Path:
        return self.root / f"{session_id}{FORGOTTEN_SUFFIX}"

    def _read(self, session_id: str) -> bytes | None:
        path = self._path(session_id)
        try:
            data = json.loads(path.read_bytes())
            key = base64.b64decode(data["key"], validate=True)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            raise SessionKeyError(f"the session key {path} is damaged or unreadable") from None
        if len(key) != KEY_BYTES or data.get("session_id") != session_id:
            raise SessionKeyError(f"the session key {path} is damaged or unreadable")
        return key

    def _names(self) -> list[str]:
        with raise_as(SessionKeyError, f"cannot read the session keys {self.root}"):
            return folder_names(self.root)

    @contextmanager
    def _lock(self, *, create: bool) -> Iterator[None]:
        """Hold the folder's lock (made, with the folders, when `create`)."""
        if create:
            private_folder(self._keystore, parents=True)
            private_folder(self.root)
        lock = self.root / ".lock"
        with ExitStack() as held:
            with raise_as(SessionKeyError, f"cannot open the session keys' lock {lock}"):
                held.enter_context(locked(lock))
            yield


def _check(session_id: str) -> None:
    if not isinstance(session_id, str) or not _SESSION_ID.match(session_id):
        raise SessionKeyError(f"{session_id!r} is not a session id")


def check_session_id(session_id: str) -> str:
    """`session_id` if it can name a file in a folder (SessionKeyError if not)."""
    _check(session_id)
    return session_id


__all__ = ["KEY_BYTES", "SessionKeyError", "SessionKeys", "check_session_id"]
