"""Where `ra` keeps its state: the database, the keys and the keystore.

`RA_HOME` (default ``~/.local/share/ra``) holds everything; every command
also takes ``--home DIR``.

The home is private to its owner whatever the umask: the folder and the
folders in it are 0700, the database and its ``-wal`` and ``-shm`` files
0600 (secret files are written 0600 by `ra.files`). A home that already
exists with looser modes is tightened when it is opened, and ra says so in
one line on stderr. Folders created above a new home (``--home a/b/c``) are
0700 too: a parent ra makes is never writable by other accounts.

A home that cannot be used (a file where a folder belongs, a folder this
account may not enter) is a `HomeError` naming the path at fault, never a
traceback.
"""

from __future__ import annotations

import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from ra.errors import InputError

DEFAULT_HOME = Path("~/.local/share/ra")
#: The files of the home that must be readable by its owner only.
PRIVATE_FILES = ("ra.db", "ra.db-wal", "ra.db-shm")


class HomeError(InputError):
    """A folder or file of RA_HOME is not what ra needs; the message names it."""


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    """The home folder: the argument, else ``$RA_HOME``, else the default."""
    if home is None or str(home) == "":
        home = os.environ.get("RA_HOME") or DEFAULT_HOME
    return Path(home).expanduser().resolve()


def _mode(st: os.stat_result) -> str:
    return f"{stat.S_IMODE(st.st_mode):04o}"


def _stat(path: Path, name: str, *, follow: bool = True) -> os.stat_result | None:
    """`path`'s status (of the link itself unless `follow`), None if it is missing;
    `HomeError` naming it `name` if it is there but cannot be looked at."""
    try:
        return os.stat(path, follow_symlinks=follow)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise HomeError(f"cannot use {name}: {exc.strerror}") from None


def _make_private(path: Path, st: os.stat_result, mode: int) -> str:
    """Set `path`, open to others as `st` says, to `mode`; returns what it was."""
    try:
        os.chmod(path, mode)
    except OSError as exc:
        raise HomeError(
            f"{path} is open to other accounts (mode {_mode(st)}) and cannot be made "
            f"private: {exc.strerror}"
        ) from None
    return f"(was {_mode(st)})"


def _tell(text: str) -> None:
    """One line on stderr: the home was changed for the user's sake."""
    sys.stderr.write(f"ra: {text}\n")
    sys.stderr.flush()


def private_folder(path: Path, *, parents: bool = False) -> list[str]:
    """Make sure `path` is a folder of ours, mode 0700; returns what was tightened.

    Missing folders are created 0700 (with `parents`, the missing folders
    above it too). An existing folder open to others is set to 0700. Raises
    HomeError when `path` is not a folder or this account cannot use it.
    """
    tightened: list[str] = []
    st = _stat(path, f"the folder {path}")
    if st is None:
        if parents:
            for above in reversed(path.parents):
                if not above.exists():
                    _make_folder(above)
        _make_folder(path)
        return tightened
    if not stat.S_ISDIR(st.st_mode):
        raise HomeError(f"{path} should be a folder but is not; move it out of the way")
    if stat.S_IMODE(st.st_mode) & 0o077:
        tightened.append(f"{path} {_make_private(path, st, 0o700)}")
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise HomeError(f"cannot use the folder {path}: permission denied "
                        f"(it belongs to uid {st.st_uid}, mode {_mode(st)})")
    return tightened


def _make_folder(path: Path) -> None:
    try:
        os.mkdir(path, 0o700)
        os.chmod(path, 0o700)  # exactly 0700, whatever the umask took away
    except FileExistsError:
        if not path.is_dir():
            raise HomeError(f"{path} should be a folder but is not; move it out of the way") \
                from None
    except OSError as exc:
        raise HomeError(f"cannot create the folder {path}: {exc.strerror}") from None


def private_file(path: Path) -> list[str]:
    """An existing `path` open to others is set to 0600; returns what was tightened."""
    st = _stat(path, str(path), follow=False)
    if st is None or not stat.S_ISREG(st.st_mode) or not stat.S_IMODE(st.st_mode) & 0o077:
        return []
    return [f"{path.name} {_make_private(path, st, 0o600)}"]


class _InHome:
    """A path inside the home, as an attribute of `Home`: ``home.database`` is
    ``home.root / "ra.db"``."""

    def __init__(self, *parts: str) -> None:
        self.parts = parts

    def __get__(self, home: Home, owner: type[Home] | None = None) -> Path:
        return home.root.joinpath(*self.parts)


@dataclass(frozen=True)
class Home:
    """The files inside one RA_HOME."""

    root: Path
    database = _InHome("ra.db")
    keys_dir = _InHome("keys")
    #: The derived secrets of open invitations (see `ra.invitations.keystore`).
    keystore_dir = _InHome("keystore")
    config = _InHome("config.toml")
    #: The Ed25519 key that signs the log's checkpoints.
    log_key = _InHome("keys", "log-signing.key")

    @classmethod
    def at(cls, home: str | os.PathLike[str] | None = None) -> Home:
        return cls(resolve_home(home))

    def ensure(self) -> Home:
        """Create the home (and its keys folder) if need be; make it private; check it."""
        tightened = private_folder(self.root, parents=True)
        tightened += private_folder(self.keys_dir)
        if self.keystore_dir.exists() or self.keystore_dir.is_symlink():
            tightened += private_folder(self.keystore_dir)
        for name in PRIVATE_FILES:
            tightened += private_file(self.root / name)
        if tightened:
            _tell("made private to you, as ra keeps it: " + ", ".join(tightened))
        return self

    def holds_log(self) -> bool:
        """Whether the home holds a log, found without creating anything.

        A home or database that is missing is no log (False); one that is
        there but cannot be used (a file where the home folder belongs, a
        folder this account may not enter, a database that is not a file) is
        a `HomeError` naming it: that is damage to say, not an empty home.
        """
        st = _stat(self.root, f"the folder {self.root}")
        if st is None:
            return False
        if not stat.S_ISDIR(st.st_mode):
            raise HomeError(f"{self.root} should be a folder but is not; move it out of the way")
        if not os.access(self.root, os.R_OK | os.X_OK):
            raise HomeError(f"cannot use the folder {self.root}: permission denied "
                            f"(it belongs to uid {st.st_uid}, mode {_mode(st)})")
        st = _stat(self.database, str(self.database))
        if st is None:
            return False
        if not stat.S_ISREG(st.st_mode):
            raise HomeError(f"{self.database} should be a file but is not; "
                            "move it out of the way")
        return True
