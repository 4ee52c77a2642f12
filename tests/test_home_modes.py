"""RA_HOME is private to its owner whatever the umask, and ra keeps it so.

Run under umask 000, where every file and folder made with default modes
would be open to every account: the home and its folders must be 0700, the
database and its -wal and -shm files 0600, and the folders ra creates above
a new ``--home`` never writable by others. A home found open to others is
tightened, and ra says so in one line.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ra.events import Actor, EventStore, NewEvent
from ra.home import Home

PASSWORD = "Blue-Harbour-Lamp-47"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run_ra(*args: str, home: Path, umask: int = 0o000, input: str | None = None,
           cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    def set_umask() -> None:
        os.umask(umask)

    return subprocess.run(
        [sys.executable, "-m", "ra", *args], input=input, capture_output=True, text=True,
        env={**os.environ, "RA_HOME": str(home)}, timeout=60, cwd=cwd,
        preexec_fn=set_umask,
    )


@pytest.fixture
def umask_000() -> Iterator[None]:
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_a_new_home_and_its_parents_are_private_under_umask_000(tmp_path: Path) -> None:
    home = tmp_path / "made" / "by" / "ra" / "home"
    made = run_ra("invite", "create", "--name", "A", "--password-stdin",
                  "--host", "127.0.0.1", "--save", str(tmp_path / "i.rainv"),
                  home=home, input=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    assert mode(home) == 0o700
    for folder in (home / "keys", home / "keystore"):
        assert mode(folder) == 0o700, folder
    for path in [home / "ra.db", *(home / "keys").iterdir(), *(home / "keystore").iterdir()]:
        assert mode(path) & 0o077 == 0, f"{path} is {mode(path):04o}"
    for parent in (tmp_path / "made", tmp_path / "made" / "by", tmp_path / "made" / "by" / "ra"):
        assert mode(parent) & 0o002 == 0, f"{parent} is {mode(parent):04o}: others can write"
        assert mode(parent) == 0o700, parent
    assert "made private" not in made.stderr  # nothing was loose: nothing to say


def test_the_database_and_its_wal_and_shm_are_0600_under_umask_000(
    tmp_path: Path, umask_000: None
) -> None:
    home = Home.at(tmp_path / "home")
    with EventStore.open(home) as store:
        store.append("test:1", 0, [NewEvent("test.happened", {"n": 1}, Actor("person", "a"))])
        files = [home.database, Path(f"{home.database}-wal"), Path(f"{home.database}-shm")]
        for path in files:
            assert path.exists(), path  # the WAL and its index exist while the log is open
            assert mode(path) == 0o600, f"{path.name} is {mode(path):04o}"
    assert mode(home.root) == 0o700


def test_a_home_open_to_others_is_tightened_and_ra_says_so_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    made = run_ra("audit", "checkpoint", home=home, umask=0o077)
    assert made.returncode == 0, made.stderr
    home.chmod(0o777)
    (home / "keys").chmod(0o755)
    (home / "ra.db").chmod(0o666)
    wal = home / "ra.db-wal"
    wal.write_bytes(b"")
    wal.chmod(0o644)

    opened = run_ra("audit", "log", home=home)
    assert opened.returncode == 0, opened.stderr
    said = [line for line in opened.stderr.splitlines() if line.strip()]
    assert len(said) == 1 and said[0].startswith("ra: ") and str(home) in said[0], said
    assert "0777" in said[0]
    assert mode(home) == 0o700
    assert mode(home / "keys") == 0o700
    assert mode(home / "ra.db") == 0o600
    assert not wal.exists() or mode(wal) == 0o600

    again = run_ra("audit", "log", home=home)
    assert again.returncode == 0 and again.stderr == "", again.stderr


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A folder every account can pass through."""
    base = Path(tempfile.mkdtemp(prefix="ra-modes-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        shutil.rmtree(base)


def test_a_home_that_cannot_be_made_private_is_refused(scratch: Path) -> None:
    """A home owned by another account is not ours to tighten: one line, exit 2."""
    home = scratch / "home"
    home.mkdir(mode=0o777)
    home.chmod(0o777)  # root's, open to all
    result = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups",
         sys.executable, "-m", "ra", "audit", "log"],
        capture_output=True, text=True, timeout=60, cwd="/",
        env={**os.environ, "RA_HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(home) in lines[0], lines
    assert not (home / "ra.db").exists(), "nothing was written in a home open to others"
