"""Where `ra` keeps its state: the database, the keys and the keystore.

`RA_HOME` (default ``~/.local/share/ra``) holds everything; every command
also takes ``--home DIR``. The folder is created with mode 0700 on first use.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_HOME = Path("~/.local/share/ra")


def resolve_home(home: str | os.PathLike[str] | None = None) -> Path:
    """The home folder: the argument, else ``$RA_HOME``, else the default."""
    if home is None or str(home) == "":
        home = os.environ.get("RA_HOME") or DEFAULT_HOME
    return Path(home).expanduser().resolve()


@dataclass(frozen=True)
class Home:
    """The files inside one RA_HOME."""

    root: Path

    @classmethod
    def at(cls, home: str | os.PathLike[str] | None = None) -> Home:
        return cls(resolve_home(home))

    def ensure(self) -> Home:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.keys_dir.mkdir(mode=0o700, exist_ok=True)
        return self

    @property
    def database(self) -> Path:
        return self.root / "ra.db"

    @property
    def keys_dir(self) -> Path:
        return self.root / "keys"

    @property
    def log_key(self) -> Path:
        """The Ed25519 key that signs the log's checkpoints."""
        return self.keys_dir / "log-signing.key"
