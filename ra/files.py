"""Files that hold secrets: written mode 0600 from the first byte, atomically;
destroyed by overwriting, then removing; guarded by a lock file between processes.

These functions raise OSError; `raise_as` turns it into the caller's own error,
one line that says what could not be done and why."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


def _write_temp(path: Path, data: bytes) -> Path:
    """`data` in a new 0600 file beside `path`, flushed to disk; returns its name."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return tmp


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` (mode 0600) through a temporary file and a rename."""
    os.replace(_write_temp(path, data), path)


def create_private(path: Path, data: bytes) -> bool:
    """Create `path` (mode 0600) holding `data`, unless it exists.

    Returns False, writing nothing, when another process created it first:
    the file appears whole or not at all, and an existing one is never replaced.
    """
    tmp = _write_temp(path, data)
    try:
        os.link(tmp, path)  # fails if the file is already there
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    return True


def shred(path: Path) -> bool:
    """Overwrite `path` with zeros, flush it to disk, remove it; True if it was there.

    A symlink is removed, never written through (it is not ours). Raises
    OSError when the file cannot be overwritten or removed.
    """
    try:
        size = path.lstat().st_size
        if path.is_symlink():
            path.unlink()
            return True
        with open(path, "r+b") as handle:
            handle.write(b"\x00" * size)
            handle.flush()
            os.fsync(handle.fileno())
        path.unlink()
    except FileNotFoundError:
        return False
    return True


def folder_names(folder: Path) -> list[str]:
    """The names in `folder`, sorted; none when it does not exist. Raises OSError."""
    try:
        return sorted(os.listdir(folder))
    except FileNotFoundError:
        return []


def stored_ids(names: Iterable[str], suffix: str) -> list[str]:
    """The ids of the files ``<id><suffix>`` among `names` (hidden files are never ids)."""
    return [name[: -len(suffix)] for name in names
            if name.endswith(suffix) and not name.startswith(".")]


def is_stale_temp(name: str) -> bool:
    """Is `name` a temporary file of a write cut short (``.<name>.<pid>.tmp``)?"""
    return name.startswith(".") and name.endswith(".tmp")


class raise_as:  # lower case, as contextlib.suppress: read as ``with raise_as(...)``
    """Within it, an OSError becomes ``error("<what>: <why>")``, raised from None."""

    def __init__(self, error: Callable[[str], Exception], what: str) -> None:
        self.error = error
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc_info: object) -> None:
        exc = exc_info[1]
        if isinstance(exc, OSError):
            raise self.error(f"{self.what}: {exc.strerror}") from None


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created 0600): between processes, and
    released with the descriptor, so a killed process never leaves it held.
    Raises OSError when the lock file cannot be opened."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
