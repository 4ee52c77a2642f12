"""One secret key per session, kept in the keystore, so a session can be forgotten.

What a session leaves on the person's disk besides its events (the recorded
screen, and any other per-session data kept encrypted) is encrypted under
keys derived from one random 32-byte key per session, held here:
``RA_HOME/keystore/sessions/<session id>.key`` (mode 0600, folders 0700).
Destroying that file (`SessionKeys.destroy`: overwritten, then removed)
makes everything encrypted under the session's keys unreadable for good,
while the log's hashes of it stay verifiable.

Each use gets its own key, derived with HKDF-SHA256 from the session's key
and a purpose label (`SessionKeys.key(session_id, "recording")`), so two
uses never share a key. The session's key is created on first use, atomically
and never over an existing one (`ra.files.create_private`): two processes
asking at once get the same key.

A session id is a name in a folder: only letters, digits, ``-`` and ``_``
(1 to 64 of them) are taken, so no id can reach outside the folder.
"""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ra.errors import RaError
from ra.files import create_private
from ra.home import Home, private_folder

KEY_BYTES = 32
FOLDER = "sessions"
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_PURPOSE = re.compile(r"^[a-z][a-z0-9.-]{0,63}$")


class SessionKeyError(RaError):
    """A session's key is missing (destroyed, or made in another RA_HOME) or unreadable."""

    exit_code = 2


def check_session_id(session_id: str) -> str:
    """`session_id` if it can name a file (letters, digits, - and _), else ValueError."""
    if not isinstance(session_id, str) or not _SESSION_ID.match(session_id):
        raise ValueError(f"not a session id: {session_id!r}")
    return session_id


class SessionKeys:
    """``RA_HOME/keystore/sessions``: the per-session keys of one home."""

    def __init__(self, home: Home) -> None:
        self.root = home.keystore_dir / FOLDER
        self._keystore = home.keystore_dir

    def path(self, session_id: str) -> Path:
        return self.root / f"{check_session_id(session_id)}.key"

    def create(self, session_id: str) -> bytes:
        """The session's key, made now if it has none yet."""
        path = self.path(session_id)
        try:
            return self.load(session_id)
        except SessionKeyError:
            if path.exists() or path.is_symlink():
                raise
        try:
            private_folder(self._keystore)
            private_folder(self.root)
            create_private(path, secrets.token_bytes(KEY_BYTES))
        except OSError as exc:
            raise SessionKeyError(f"cannot write the session key {path}: {exc.strerror}") \
                from None
        return self.load(session_id)  # ours, or the one another process made first

    def load(self, session_id: str) -> bytes:
        """The session's key; SessionKeyError if it has none (or it was destroyed)."""
        path = self.path(session_id)
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except FileNotFoundError:
            raise SessionKeyError(
                f"no key is kept for session {session_id}: it was forgotten, or it ran "
                "in another RA_HOME"
            ) from None
        except OSError as exc:
            raise SessionKeyError(f"cannot read the session key {path}: {exc.strerror}") \
                from None
        with os.fdopen(fd, "rb") as handle:
            key = handle.read(KEY_BYTES + 1)
        if len(key) != KEY_BYTES:
            raise SessionKeyError(f"the session key {path} is damaged")
        return key

    def has(self, session_id: str) -> bool:
        return self.path(session_id).is_file()

    def key(self, session_id: str, purpose: str, *, create: bool = False) -> bytes:
        """The 32-byte key of `purpose` (``recording``, ``chat``, ...) for this session."""
        if not _PURPOSE.match(purpose):
            raise ValueError(f"not a key purpose: {purpose!r}")
        master = self.create(session_id) if create else self.load(session_id)
        return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None,
                    info=b"ra session key\x00" + purpose.encode()).derive(master)

    def destroy(self, session_id: str) -> bool:
        """Overwrite and remove the session's key; True if there was one."""
        path = self.path(session_id)
        try:
            if path.is_symlink():
                path.unlink()  # never written through: it is not ours
                return True
            size = path.stat().st_size
            with open(path, "r+b") as handle:
                handle.write(b"\x00" * size)
                handle.flush()
                os.fsync(handle.fileno())
            path.unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise SessionKeyError(f"cannot destroy the session key {path}: {exc.strerror}") \
                from None
        return True


def session_key(home: Home, session_id: str, purpose: str, *, create: bool = False) -> bytes:
    """The key of `purpose` for `session_id` (see `SessionKeys.key`)."""
    return SessionKeys(home).key(session_id, purpose, create=create)


__all__ = ["KEY_BYTES", "SessionKeyError", "SessionKeys", "check_session_id", "session_key"]
