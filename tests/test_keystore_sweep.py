"""Secrets with no open invitation do not outlive the crash that left them.

`ra invite create` writes an invitation's derived secret, then appends
``invitation.created``; a SIGKILL between the two leaves a secret nothing
names. The next command that opens the invitations destroys it, as it does
the secret of an invitation that ended before its secret was destroyed, and
the temporary file of a write cut short. Secrets of open invitations stay.
A sweep never takes the secret of a `create` still running: both hold the
keystore's lock.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import uuid
from pathlib import Path

from ra.events import EventStore
from ra.home import Home
from ra.invitations.keystore import Keystore
from ra.invitations.service import Invitations

PASSWORD = "Blue-Harbour-Lamp-47"


def create(ra, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    made = ra("invite", "create", "--name", "A", "--password-stdin", "--json", "--host",
              "127.0.0.1", "--save", str(tmp_path / f"{uuid.uuid4()}.rainv"),
              input=PASSWORD + "\n", check=True)
    return str(json.loads(made.stdout)["id"])


def plant(home: Home, name: str) -> Path:
    """A keystore file as a killed `ra invite create` leaves it."""
    path = home.root / "keystore" / name
    path.write_bytes(json.dumps({"invitation_id": name.split(".")[0].lstrip("."),
                                 "pake_secret": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"}).encode())
    path.chmod(0o600)
    return path


def test_orphan_secrets_are_destroyed_and_open_ones_stay(  # type: ignore[no-untyped-def]
    ra, home: Home, tmp_path: Path
) -> None:
    open_id = create(ra, tmp_path)
    ended_id = create(ra, tmp_path)
    ra("invite", "revoke", ended_id, check=True)
    keystore = Keystore(home)
    assert keystore.has(open_id) and not keystore.has(ended_id)

    orphan = plant(home, f"{uuid.uuid4()}.key")  # killed before invitation.created
    ended = plant(home, f"{ended_id}.key")  # killed between invitation.revoked and the destroy
    cut_short = plant(home, f".{uuid.uuid4()}.key.4242.tmp")  # killed inside the write

    result = ra("invite", "list", "--jsonl")
    assert result.returncode == 0, result.stderr
    assert not orphan.exists() and not ended.exists() and not cut_short.exists()
    assert keystore.has(open_id), "the secret of an open invitation stays"
    assert [json.loads(line)["id"] for line in result.stdout.splitlines()] == [open_id]


def _waiting_on(lock: Path) -> bool:
    """Whether some process is blocked on the flock of `lock` (from /proc/locks)."""
    inode = lock.stat().st_ino
    for line in Path("/proc/locks").read_text().splitlines():
        fields = line.split()
        if "->" in fields and fields[fields.index("->") + 1] == "FLOCK":
            if fields[-3].endswith(f":{inode}"):
                return True
    return False


def test_a_sweep_waits_for_a_create_in_progress(  # type: ignore[no-untyped-def]
    ra, home: Home, tmp_path: Path
) -> None:
    """A sweep that starts between the secret's write and its event leaves it."""
    create(ra, tmp_path)  # the keystore exists, so the other process sweeps it
    lock = home.root / "keystore" / ".lock"
    env = {**os.environ, "RA_HOME": str(home.root)}
    sweeper: list[subprocess.Popen[str]] = []

    with EventStore.open(home) as store:
        service = Invitations(store, home)
        real_append = store.append

        def append_once_a_sweep_waits(*args, **kwargs):  # type: ignore[no-untyped-def]
            # The secret is written and the lock held: start a command and let
            # it reach the lock before the event is appended.
            sweeper.append(subprocess.Popen(
                [sys.executable, "-m", "ra", "invite", "list", "--json"], env=env,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            done = threading.Event()
            while not _waiting_on(lock):
                assert sweeper[0].poll() is None, sweeper[0].communicate()
                done.wait(0.01)
            return real_append(*args, **kwargs)

        store.append = append_once_a_sweep_waits  # type: ignore[method-assign]
        created = service.create(name="B", message="", password=PASSWORD,
                                 addresses=["127.0.0.1"])
        store.append = real_append  # type: ignore[method-assign]

    out, err = sweeper[0].communicate(timeout=60)
    assert sweeper[0].returncode == 0, err
    assert Keystore(home).has(created.view.id), "the sweep left the new invitation's secret"
    assert created.view.id in out
