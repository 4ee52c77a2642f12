"""Virtual X displays (Xvfb) and an xterm on them: for the demo, tests and benchmarks."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from ra.errors import RaError


class XvfbError(RaError):
    """A virtual display could not be started."""

    exit_code = 3


@dataclass(frozen=True)
class Display:
    name: str  # ":57"
    width: int
    height: int
    pid: int = 0  # the Xvfb server's process id

    def env(self) -> dict[str, str]:
        return {**os.environ, "DISPLAY": self.name}


def _free_display() -> int:
    for number in range(50, 400):
        if not Path(f"/tmp/.X{number}-lock").exists() and not Path(
            f"/tmp/.X11-unix/X{number}"
        ).exists():
            return number
    raise XvfbError("no free X display number")


def _lock_owner(number: int) -> int | None:
    try:
        return int(Path(f"/tmp/.X{number}-lock").read_text().strip())
    except (OSError, ValueError):
        return None


@contextmanager
def xvfb(width: int = 1280, height: int = 800, depth: int = 24) -> Iterator[Display]:
    """Start Xvfb (with XTEST, MIT-SHM, RECORD, DAMAGE) on a free display; stop it after.

    The server never resets: by default an X server starts afresh whenever its
    last client leaves, dropping what was set on the display (root window
    properties, RandR monitors), and a client that connects during that reset
    (say an xterm starting while a probe disconnects) can be turned away.
    """
    if shutil.which("Xvfb") is None:
        raise XvfbError("Xvfb is not installed (`make setup` installs it)")
    for _attempt in range(5):
        number = _free_display()
        proc = subprocess.Popen(
            ["Xvfb", f":{number}", "-screen", "0", f"{width}x{height}x{depth}", "-noreset",
             "-nolisten", "tcp", "+extension", "XTEST", "+extension", "DAMAGE"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        socket_path = Path(f"/tmp/.X11-unix/X{number}")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and proc.poll() is None and not (
            socket_path.exists() and _lock_owner(number) == proc.pid
        ):
            time.sleep(0.02)
        # Ours only if the lock names our server: another process may have taken
        # the same number a moment earlier, and its socket is not ours to use.
        if proc.poll() is None and socket_path.exists() and _lock_owner(number) == proc.pid:
            break
        proc.kill()
        proc.wait()
    else:
        raise XvfbError("Xvfb did not start")
    display = Display(f":{number}", width, height, proc.pid)
    try:
        yield display
    finally:
        _stop(proc)


@contextmanager
def xterm(
    display: Display, *args: str, cwd: Path | None = None, geometry: str = "100x30+0+0"
) -> Iterator[subprocess.Popen[bytes]]:
    """An xterm on `display` (no window manager: focus follows the pointer)."""
    if shutil.which("xterm") is None:
        raise XvfbError("xterm is not installed (`make setup` installs it)")
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            ["xterm", "-geometry", geometry, "-fa", "DejaVu Sans Mono", "-fs", "12", *args],
            env=display.env(), cwd=cwd, stdout=subprocess.DEVNULL, stderr=errors,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                found = subprocess.run(
                    ["xdotool", "search", "--onlyvisible", "--pid", str(proc.pid)],
                    env=display.env(), capture_output=True, text=True)
                if found.stdout.strip():
                    break
                if proc.poll() is not None:
                    raise XvfbError(f"xterm exited (status {proc.returncode}) before its "
                                    f"window appeared{_said(errors)}")
                if time.monotonic() > deadline:
                    raise XvfbError("xterm's window did not appear within 30 s")
                time.sleep(0.05)
            yield proc
        finally:
            _stop(proc)


def _said(errors: IO[bytes]) -> str:
    """What xterm wrote on stderr, its own "xterm: ..." lines first, for an error."""
    errors.seek(0)
    lines = [line.strip() for line in errors.read(8192).decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    own = [line for line in lines if line.startswith("xterm:")]
    text = "; ".join((own or lines)[:2])
    return f": {text[:300]}" if text else ""


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
