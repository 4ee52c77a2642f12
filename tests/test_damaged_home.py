"""A damaged RA_HOME: every command that opens it says what is wrong in one line.

Each damage (a folder that is a file, a file that is garbage, a setting of
the wrong type, a folder another account owns) is made in a fresh copy of a
home that one `ra invite create` filled, and every command that opens a home
is run on it as a real process. None may print a traceback: a command the
damage concerns exits 2 with one line on stderr, ``ra: ...``, naming the file
inside the home that is at fault; `ra audit verify` exits 1 when what it finds
is an altered log, which is what it is for. A command the damage does not
concern runs as it would on a sound home.

The tests run as root, for whom no mode bit denies anything, so a folder or
file that cannot be read is made by leaving it to root and running `ra` as
``nobody`` (setpriv).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

PASSWORD = "Blue-Harbour-Lamp-47"
NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


@dataclass(frozen=True)
class Sound:
    """A home made by `ra invite create`, to copy and damage."""

    root: Path
    invitation_id: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def sound(tmp_path_factory: pytest.TempPathFactory) -> Sound:
    base = tmp_path_factory.mktemp("sound")
    home = base / "home"
    # `ra ask` listens on the port its invitation carries: a free one, not the default.
    made = subprocess.run(
        [sys.executable, "-m", "ra", "invite", "create", "--name", "Alice", "--json",
         "--password-stdin", "--host", "127.0.0.1", "--port", str(_free_port()),
         "--save", str(base / "inv.rainv")],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=60,
        env={**os.environ, "RA_HOME": str(home)}, check=True,
    )
    return Sound(home, json.loads(made.stdout)["id"])


# -- the damages: each takes a copy of the sound home and returns who runs ra --------------


def _replace_with_file(path: Path) -> None:
    shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    path.write_bytes(b"not a folder\n")


def home_is_file(home: Path) -> None:
    shutil.rmtree(home)
    home.write_bytes(b"not a folder\n")


def keys_is_file(home: Path) -> None:
    _replace_with_file(home / "keys")


def keystore_is_file(home: Path) -> None:
    _replace_with_file(home / "keystore")


def event_body_not_json(home: Path) -> None:
    db = sqlite3.connect(home / "ra.db", isolation_level=None)
    (trigger,) = db.execute(
        "SELECT sql FROM sqlite_master WHERE name = 'events_refuse_update'").fetchone()
    db.execute("DROP TRIGGER events_refuse_update")
    db.execute("UPDATE events SET body = 'not json {' WHERE seq = 0")
    db.execute(trigger)  # only the body is damaged: the triggers are as ra made them
    db.close()


def _garbage(name: str) -> Callable[[Path], None]:
    def damage(home: Path) -> None:
        (home / "keys" / name).write_bytes(b"-----BEGIN GARBAGE-----\n\x00\xff junk\n")

    damage.__name__ = f"garbage_{name.replace('-', '_').replace('.', '_')}"
    return damage


def config_invitations_not_table(home: Path) -> None:
    (home / "config.toml").write_text("invitations = 5\n")


def config_max_expiry_not_text(home: Path) -> None:
    (home / "config.toml").write_text("[invitations]\nmax_expiry = [1, 2]\n")


def config_not_toml(home: Path) -> None:
    (home / "config.toml").write_bytes(b"[invitations\n\xff\n")


def config_is_folder(home: Path) -> None:
    (home / "config.toml").mkdir()


def db_not_sqlite(home: Path) -> None:
    for suffix in ("-wal", "-shm"):
        (home / f"ra.db{suffix}").unlink(missing_ok=True)
    (home / "ra.db").write_bytes(os.urandom(8192))


def db_is_folder(home: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        (home / f"ra.db{suffix}").unlink(missing_ok=True)
    (home / "ra.db").mkdir()


def _chown_nobody(home: Path, keep: Path | None) -> None:
    for path in [home, *home.rglob("*")]:
        if keep is None or (path != keep and keep not in path.parents):
            os.chown(path, 65534, 65534, follow_symlinks=False)


def unreadable_home(home: Path) -> None:
    home.chmod(0o700)  # root's, so nobody can neither list nor open anything in it


def unreadable_keys(home: Path) -> None:
    _chown_nobody(home, keep=home / "keys")


def unreadable_keystore(home: Path) -> None:
    _chown_nobody(home, keep=home / "keystore")


def unreadable_db(home: Path) -> None:
    _chown_nobody(home, keep=home / "ra.db")
    (home / "ra.db").chmod(0o600)


DAMAGES: list[Callable[[Path], None]] = [
    home_is_file, keys_is_file, keystore_is_file, event_body_not_json,
    _garbage("tls.crt"), _garbage("tls.key"), _garbage("identity.key"),
    _garbage("log-signing.key"), config_invitations_not_table, config_max_expiry_not_text,
    config_not_toml, config_is_folder, db_not_sqlite, db_is_folder,
    unreadable_home, unreadable_keys, unreadable_keystore, unreadable_db,
]
AS_NOBODY = {unreadable_home, unreadable_keys, unreadable_keystore, unreadable_db}

COMMANDS: dict[str, tuple[str, ...]] = {
    "invite create": ("invite", "create", "--name", "Bob", "--generate-password",
                      "--host", "127.0.0.1", "--save", "{base}/new.rainv"),
    "invite list": ("invite", "list"),
    "invite show": ("invite", "show", "{id}"),
    "invite expire": ("invite", "expire", "{id}"),
    "ask": ("ask", "{id}", "--no-screen", "--host", "127.0.0.1"),
    "audit verify": ("audit", "verify"),
    "audit log": ("audit", "log"),
    "audit report": ("audit", "report", "consent-and-control-grants"),
    "audit checkpoint": ("audit", "checkpoint"),
    "audit prove": ("audit", "prove", "0"),
    "audit migrate": ("audit", "migrate"),
}

# What a damage does not concern: there the command runs as on a sound home.
# (Each command's own reading of the damaged part is what the rest checks.)
CONFIG = {config_invitations_not_table, config_max_expiry_not_text, config_not_toml,
          config_is_folder}
AUDIT = {"audit verify", "audit log", "audit report", "audit prove", "audit migrate"}
IDENTITY = AUDIT | {"audit checkpoint", "invite list", "invite show", "invite expire"}
UNCONCERNED: dict[str, set[str]] = {
    "garbage_tls_crt": IDENTITY,
    "garbage_tls_key": IDENTITY,
    "garbage_identity_key": IDENTITY,
    "garbage_log_signing_key": {"audit log", "audit report", "audit prove", "audit migrate",
                                "invite list", "invite show", "ask"},
    **{damage.__name__: AUDIT | {"audit checkpoint"} for damage in CONFIG},
    # `audit checkpoint` writes the log, so it reads [retention] first: the whole file.
    **{damage.__name__: AUDIT for damage in (config_not_toml, config_is_folder)},
    "event_body_not_json": {"audit checkpoint", "audit migrate"},
}
#: `ra audit verify` finds these logs altered: exit 1, the first bad position on stdout.
TAMPERED = {"event_body_not_json"}


@dataclass(frozen=True)
class Outcome:
    returncode: int | None  # None: `ra ask` was listening (the damage did not stop it)
    stdout: str
    stderr: str


def run_ra(args: list[str], home: Path, cwd: Path, *, as_nobody: bool) -> Outcome:
    env = {**os.environ, "RA_HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [*(NOBODY if as_nobody else []), sys.executable, "-m", "ra", *args]
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=cwd)
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    try:
        assert proc.stdout is not None and proc.stderr is not None
        out = []
        for line in proc.stdout:
            out.append(line)
            if args[0] == "ask" and line.startswith("listening on"):
                proc.kill()
                proc.wait()
                return Outcome(None, "".join(out), proc.stderr.read())
        returncode = proc.wait()
        return Outcome(returncode, "".join(out), proc.stderr.read())
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A folder every account can pass through (a home for `nobody` lives in it)."""
    base = Path(tempfile.mkdtemp(prefix="ra-damaged-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base)


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("damage", DAMAGES, ids=lambda d: d.__name__)
def test_a_damaged_home_gives_one_line_and_exit_2(
    sound: Sound, scratch: Path, damage: Callable[[Path], None], command: str
) -> None:
    home = scratch / "home"
    shutil.copytree(sound.root, home, symlinks=True)
    damage(home)
    as_nobody = damage in AS_NOBODY
    if as_nobody:
        os.chown(scratch, 65534, 65534)  # where `invite create` saves; the home stays as set
    args = [a.format(id=sound.invitation_id, base=scratch) for a in COMMANDS[command]]
    outcome = run_ra(args, home, scratch, as_nobody=as_nobody)
    shown = f"ra {' '.join(args)} -> {outcome.returncode}\n{outcome.stderr}"
    assert "Traceback" not in outcome.stderr, shown
    name = damage.__name__
    if command in UNCONCERNED.get(name, set()):
        assert outcome.returncode in (0, None), shown
        return
    if name in TAMPERED and command == "audit verify":
        assert outcome.returncode == 1, shown
        assert "Traceback" not in outcome.stdout, shown
        return
    assert outcome.returncode == 2, shown
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ra: "), shown
    assert str(home) in lines[0], f"the message names the file at fault\n{shown}"
