"""Writing files that hold secrets: mode 0600 from the first byte, atomically."""

from __future__ import annotations

import os
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
