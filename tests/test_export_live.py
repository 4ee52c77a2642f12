"""An export of a real session (two `ra` processes over TLS on loopback, or `ra ask`
and a raw helper client in this process), checked against what the person and helper
did, and verified where there is no database."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pexpect
from test_live_session import (
    HELPER_NAME,
    PASSWORD,
    SIGNER,
    RawHelper,
    _create,
    _exit_code,
    _spawn,
    _start,
    _to_viewing,
)
from test_live_session import children as children  # noqa: F401 - fixtures, used by name
from test_live_session import homes as homes  # noqa: F401
from test_live_session import screen as screen  # noqa: F401

from ra.invitations import load_invitation
from ra.net import connect

#: Pointer moves the raw helper sends in control: each is injected on the display.
MOVES = 7
ESCAPE = {"kind": "key", "key": "Escape", "code": "Escape", "down": True}


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
    with zipfile.ZipFile(out) as archive:
        consent = [json.loads(x) for x in archive.read("consent.jsonl").splitlines()]
        control = [json.loads(x) for x in archive.read("control.jsonl").splitlines()]
        sessions = [json.loads(x) for x in archive.read("sessions.jsonl").splitlines()]
    assert [(r["scope"], r["answer"], r["person"], r["helper"], r["invitation"])
            for r in consent] == [("view", "granted", "Alice", HELPER_NAME, inv_id),
                                  ("control", "granted", "Alice", HELPER_NAME, inv_id)]
    assert all(len(r["helper_key"]) == 64 and r["origin"] == "127.0.0.1" for r in consent)
    assert consent[0]["took_ms"] >= 0
    assert [(r["released_by"], r["released_via"], r["inputs_injected"], r["inputs_rejected"])
            for r in control] == [("person", "command", 0, 0)]
    assert control[0]["duration_ms"] >= 0
    assert [(r["session"], r["ended_by"], r["end_reason"]) for r in sessions] == [
        (consent[0]["session"], "helper", "helper")]

    fresh = tmp_path / "elsewhere"
    checked = _ra(fresh, "audit", "verify-export", str(out), "--key", key)
    assert checked.returncode == 0, checked.stderr
    assert "2 consent rows, 1 control rows" in checked.stdout
    assert not fresh.exists()


def test_the_control_row_counts_the_input_the_helper_injected(
        homes: tuple[Path, Path], tmp_path: Path,  # noqa: F811
        children: list[pexpect.spawn]) -> None:  # noqa: F811
    """A raw helper takes control, sends `MOVES` pointer moves and one Esc (never
    injected), and gives control back; the person's export says so."""
    person_home, _ = homes
    inv_id, file = _create(person_home, tmp_path)
    person = _spawn(person_home, "ask", inv_id, "--terminal", "--host", "127.0.0.1")
    children.append(person)
    person.expect(r"listening on 127\.0\.0\.1:\d+")

    async def on_pty(pattern: str) -> None:
        await asyncio.to_thread(person.expect, pattern)

    async def session() -> None:
        channel = await connect(load_invitation(file), PASSWORD, SIGNER)
        peer = RawHelper(channel)
        async with peer.running():
            await peer.expect("consent", scope="view", status="requested")
            await on_pty("Answer y")
            person.sendline("y")
            await peer.expect("consent", scope="view", status="granted")
            await channel.send_json({"type": "control.request"})
            await on_pty("asks to control your mouse and keyboard")
            await on_pty("Answer y")
            person.sendline("y")
            await peer.expect("consent", scope="control", status="granted")
            for n in range(MOVES):
                event: dict[str, Any] = {"kind": "pointer", "x": 10 + n, "y": 20 + n}
                await channel.send_json({"type": "input", "event": event})
            await channel.send_json({"type": "input", "event": ESCAPE})
            # handled in order: once the chat shows, every input before it was judged
            await channel.send_json({"type": "chat", "text": "all sent"})
            await on_pty("all sent")
            await channel.send_json({"type": "control.release", "via": "button"})
            await on_pty(re.escape(f"{HELPER_NAME} gave control back"))
            person.sendline("/disconnect")
            await peer.expect("disconnect", reason="user")

    asyncio.run(asyncio.wait_for(session(), 40))
    assert _exit_code(person) == 0

    out = tmp_path / "control"
    made = _ra(person_home, "audit", "export", "--what", "control", "--format", "jsonl",
               "--out", str(out), "--json")
    assert made.returncode == 0, made.stderr
    control = [json.loads(x) for x in (out / "control.jsonl").read_text().splitlines()]
    assert [(r["helper"], r["released_by"], r["released_via"], r["inputs_injected"],
             r["inputs_rejected"]) for r in control] == [
        (HELPER_NAME, "helper", "button", MOVES, 1)]
    checked = _ra(tmp_path / "elsewhere", "audit", "verify-export", str(out))
    assert checked.returncode == 0, checked.stderr
