"""The story of a real session: `ra ask` and `ra connect` on loopback, then `ra audit
sessions` and `ra audit replay` on both sides' logs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pexpect
import test_live_session
from test_live_session import (
    HELPER_NAME,
    PASSWORD,
    RECORDING,
    _create,
    _env,
    _events,
    _exit_code,
    _spawn,
    _to_viewing,
)

from ra.fingerprint import key_fingerprint
from ra.home import Home
from ra.identity import load_identity

homes = test_live_session.homes  # the fixtures, shared
children = test_live_session.children
screen = test_live_session.screen  # autouse: `ra ask` shares a real (virtual) display

Homes = tuple[Path, Path]
Children = list[pexpect.spawn]
CHAT = "look at \x1b[31mthis\x1b[0m"  # what the helper types, escape sequence and all

STORY = [  # (type, state after), as the live engines fired them
    ("session.connected", "connecting"),
    ("session.authenticated", "authenticated"),
    ("consent.requested", "awaiting_view_consent"),
    ("consent.granted", "viewing"),
    ("view.started", "viewing"),
    ("control.requested", "control_requested"),
    ("consent.requested", "awaiting_control_consent"),
    ("consent.granted", "awaiting_control_consent"),
    ("control.granted", "controlling"),
    ("control.released", "released"),
    ("chat.message", "released"),
    ("session.disconnected", "disconnected"),
    ("session.receipt", "disconnected"),
]


def _start(homes: Homes, tmp: Path, children: Children) -> tuple[pexpect.spawn, pexpect.spawn]:
    """`ra ask --terminal` (the person answers on its pty) and `ra connect` as Bob (IT)."""
    person_home, helper_home = homes
    inv_id, file = _create(person_home, tmp)
    person = _spawn(person_home, "ask", inv_id, "--host", "127.0.0.1", "--terminal")
    children.append(person)
    person.expect(r"listening on 127\.0\.0\.1:\d+")
    helper = _spawn(helper_home, "connect", str(file), "--password-stdin", "--no-browser",
                    "--name", HELPER_NAME)
    children.append(helper)
    helper.sendline(PASSWORD)
    return person, helper


def _audit(home: Path, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "ra", "audit", *args], env=_env(home),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    return result.stdout


def _seconds(later: Any, earlier: Any) -> float:
    return (later.occurred_at - earlier.occurred_at).total_seconds()


def test_a_real_session_replays_to_the_states_the_engines_went_through(
        homes: Homes, tmp_path: Path, children: Children) -> None:
    person_home, helper_home = homes
    key = key_fingerprint(load_identity(Home.at(helper_home)).signing_public)
    person, helper = _start(homes, tmp_path, children)
    _to_viewing(person, helper)
    helper.sendline("/control")
    person.expect("asks to control your mouse and keyboard")
    person.expect("Answer y")
    person.sendline("y")
    helper.expect("you now control Alice's mouse and keyboard")
    person.sendline("/release")
    person.expect("you have control again")
    helper.expect("took control back")
    helper.sendline(CHAT)
    person.expect("look at")
    helper.sendline("/disconnect")
    person.expect("ended the session")
    assert _exit_code(helper) == 0
    assert _exit_code(person) == 0

    events = _events(person_home)
    session = events[0].stream.split(":", 1)[1]
    assert [e.type for e in events] == [kind for kind, _ in STORY]

    # One line for the session, in the person's log.
    (row,) = json.loads(_audit(person_home, "sessions", "--json"))
    assert row["session"] == session
    assert (row["person"], row["helper"]) == (
        "Alice", {"name": HELPER_NAME, "fingerprint": key, "address": "127.0.0.1"})
    assert (row["ending"], row["ended_by"], row["state"]) == ("helper", "helper",
                                                             "disconnected")
    assert (row["consents_asked"], row["consents_given"], row["inputs_rejected"]) == (2, 2, 0)
    by_type = {e.type: e for e in events}
    granted, released = by_type["control.granted"], by_type["control.released"]
    assert row["control_s"] == round(_seconds(released, granted), 6) > 0
    assert row["viewing_s"] == round(_seconds(by_type["session.disconnected"],
                                              by_type["view.started"]), 6)
    assert json.loads(_audit(person_home, "sessions", "--helper", "nobody", "--json")) == []
    assert len(json.loads(_audit(person_home, "sessions", "--helper", key[:8], "--json"))) == 1

    # The story: every event, with the state the engine was in after it.
    doc = json.loads(_audit(person_home, "replay", session[:8], "--json"))
    # Every event, the recorded screen's chunks too (as many as the session took) ...
    every = _events(person_home, recording=True)
    assert RECORDING in [e.type for e in every]
    assert [e["seq"] for e in doc["events"]] == [e.seq for e in every]
    # ... and the session's own story, told without them.
    told = [e for e in doc["events"] if e["type"] != RECORDING]
    assert [(e["type"], e["state"]) for e in told] == STORY
    assert [e["seq"] for e in told] == [e.seq for e in events]
    assert doc["anomalies"] == 0
    view_asked, view_granted = events[2], events[3]
    control_asked, control_granted = events[6], events[7]
    assert [c["took_s"] for c in doc["consents"]] == [
        round(_seconds(view_granted, view_asked), 6),
        round(_seconds(control_granted, control_asked), 6)]
    assert doc["control"] == [{"from": granted.to_json()["occurred_at"],
                               "until": released.to_json()["occurred_at"],
                               "by": "person", "via": "command",
                               "held_s": round(_seconds(released, granted), 6)}]
    assert told[10]["payload"]["text"] == CHAT

    # The helper's log tells the same story from the other side.
    theirs = json.loads(_audit(helper_home, "replay", session[:8], "--json"))
    assert [(e["type"], e["state"]) for e in theirs["events"]] == STORY
    assert theirs["session"]["helper"] == {"name": HELPER_NAME, "fingerprint": key,
                                           "address": None}

    # For people: inert chat, the release and the end.
    text = _audit(person_home, "replay", session, "--instant")
    assert "\x1b" not in text
    assert f"[chat] helper {HELPER_NAME}: look at \\x1b[31mthis\\x1b[0m" in text
    assert "[controlling -> released]  control ends: released by person via the /release " \
           "command" in text
    assert "the session ends: helper (by helper)" in text
    assert text.rstrip().endswith("0 anomalies")
