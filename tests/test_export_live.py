"""An export of a real session (two `ra` processes over TLS on loopback), checked
against what the person and helper did, and verified where there is no database."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pexpect
from test_live_session import HELPER_NAME, _exit_code, _start, _to_viewing
from test_live_session import children as children  # noqa: F401 - fixtures, used by name
from test_live_session import homes as homes  # noqa: F401
from test_live_session import screen as screen  # noqa: F401


def _ra(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ra", *args], capture_output=True, text=True,
                          env={**os.environ, "RA_HOME": str(home)}, timeout=120)


def test_export_of_a_live_session(homes: tuple[Path, Path], tmp_path: Path,  # noqa: F811
                                  children: list[pexpect.spawn]) -> None:  # noqa: F811
    person_home, _ = homes
    inv_id, person, helper = _start(homes, tmp_path, children)
    _to_viewing(person, helper)
    helper.sendline("/control")
    person.expect("asks to control your mouse and keyboard")
    person.expect("Answer y")
    person.sendline("y")
    person.expect("now controls your mouse and keyboard")
    helper.expect("you now control Alice's mouse and keyboard")
    person.sendline("/release")
    person.expect("you have control again")
    helper.expect("took control back")
    helper.sendline("/disconnect")
    helper.expect("you ended the session")
    assert _exit_code(helper) == 0
    assert _exit_code(person) == 0

    out = tmp_path / "export.zip"
    made = _ra(person_home, "audit", "export", "--format", "jsonl", "--out", str(out),
               "--json")
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)["key_fingerprint"]
    import zipfile

    with zipfile.ZipFile(out) as archive:
        consent = [json.loads(x) for x in archive.read("consent.jsonl").splitlines()]
        control = [json.loads(x) for x in archive.read("control.jsonl").splitlines()]
        sessions = [json.loads(x) for x in archive.read("sessions.jsonl").splitlines()]
    assert [(r["scope"], r["answer"], r["person"], r["helper"], r["invitation"])
            for r in consent] == [("view", "granted", "Alice", HELPER_NAME, inv_id),
                                  ("control", "granted", "Alice", HELPER_NAME, inv_id)]
    assert all(len(r["helper_key"]) == 64 and r["origin"] == "127.0.0.1" for r in consent)
    assert consent[0]["took_ms"] >= 0
    assert [(r["released_by"], r["released_via"]) for r in control] == [("person", "command")]
    assert control[0]["duration_ms"] >= 0
    assert [(r["session"], r["ended_by"], r["end_reason"]) for r in sessions] == [
        (consent[0]["session"], "helper", "helper")]

    fresh = tmp_path / "elsewhere"
    checked = _ra(fresh, "audit", "verify-export", str(out), "--key", key)
    assert checked.returncode == 0, checked.stderr
    assert "2 consent rows, 1 control rows" in checked.stdout
    assert not fresh.exists()
