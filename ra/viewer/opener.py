"""The page's opener: a file only the user can read that takes the browser to the page.

The page's address holds its one-time token, and a command line or an
environment can be read by every local account (``/proc/*/cmdline``). So the
browser is never given that address. It is given the path of a small HTML
file that moves it on to the page (``location.replace``, or a meta refresh
where script is off), the way Jupyter opens its notebooks:

- the file is created 0600 (whatever the umask), never over an existing file
  or through a symbolic link, in the user's runtime folder: ``$XDG_RUNTIME_DIR``
  when it is a folder of the user's own that no one else may enter, else
  ``RA_HOME/run``, made (or tightened to) 0700;
- only its path reaches the browser's arguments; ``ra connect --no-browser``
  prints that path, never the token;
- it is deleted when the page has connected (the token is used up) and, in
  any case, when the session ends.

The browser is started on a thread of its own that nothing waits for: a
``$BROWSER`` that does not return (a terminal browser, a wrapper that waits
for its window) never holds up the session.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import secrets
import stat
import threading
import webbrowser
from pathlib import Path

from ra.errors import InputError
from ra.logs import get_logger

_log = get_logger("ra.viewer")

#: The folder under RA_HOME used when there is no private runtime folder.
RUN_FOLDER = "run"


class OpenerError(InputError):
    """The viewer's opener file could not be written where only you can read it."""


def _private_dir(path: Path) -> bool:
    """A real folder (no link) owned by us that no one else may enter."""
    try:
        info = path.lstat()
    except OSError:
        return False
    return (stat.S_ISDIR(info.st_mode) and info.st_uid == os.getuid()
            and not info.st_mode & 0o077)


def private_folder(home: Path) -> Path:
    """Where the opener goes: ``$XDG_RUNTIME_DIR`` if private to us, else ``home/run``."""
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and os.path.isabs(runtime) and _private_dir(Path(runtime)):
        return Path(runtime)
    folder = home / RUN_FOLDER
    try:
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=0o700)
        info = folder.lstat()
        if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
            raise OpenerError(f"{folder} is not a folder of yours: remove it and try again")
        if stat.S_IMODE(info.st_mode) != 0o700:  # looser, or made under a tight umask
            os.chmod(folder, 0o700)
    except OSError as exc:
        raise OpenerError(f"cannot make {folder}: {exc.strerror or exc}") from None
    return folder


def opener_html(url: str) -> str:
    """The opener's text: it moves the browser on to ``url`` at once."""
    attribute = html.escape(url, quote=True)
    script = json.dumps(url).replace("<", "\\u003c")
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
        "<meta name=\"referrer\" content=\"no-referrer\">\n"
        f"<meta http-equiv=\"refresh\" content=\"0;url={attribute}\">\n"
        "<title>ra viewer</title>\n"
        f"<script>location.replace({script});</script>\n"
        "</head><body><p>Opening the ra viewer. If nothing happens, "
        f"<a href=\"{attribute}\">open it here</a>.</p></body></html>\n"
    )


def write_opener(url: str, folder: Path) -> Path:
    """Write a new opener for ``url`` in ``folder`` (mode 0600); its path."""
    path = folder / f"ra-viewer-{secrets.token_hex(8)}.html"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) \
        | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        raise OpenerError(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        os.fchmod(fd, 0o600)  # the umask may have taken the owner's bits away
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            fd = -1
            out.write(opener_html(url))
    except BaseException:
        if fd >= 0:
            os.close(fd)
        remove_opener(path)
        raise
    return path


def remove_opener(path: Path | None) -> None:
    """Delete an opener (nothing if it is gone already)."""
    if path is not None:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _open(target: str) -> None:
    try:
        if not webbrowser.open(target):
            _log.warning("viewer.browser.not_opened")
    except Exception as exc:  # a broken $BROWSER must not end the session
        _log.warning("viewer.browser.failed", error=type(exc).__name__)


def launch_browser(path: Path) -> threading.Thread:
    """Open the opener in the user's browser on a thread of its own (not waited for)."""
    thread = threading.Thread(target=_open, args=(path.as_uri(),), name="ra-browser",
                              daemon=True)
    thread.start()
    return thread


__all__ = [
    "OpenerError",
    "launch_browser",
    "opener_html",
    "private_folder",
    "remove_opener",
    "write_opener",
]
