"""`ra demo --log-only` records what a real session records.

The demo is the first log a newcomer reads, so it must be the log the code
writes: every event it leaves, in Alice's log, Bob's and the attacker's
rebuilt copy, matches the JSON Schema of its type (audit/schema/events/),
and `ra audit replay` tells each side's session without an anomaly (Alice's
after saying that her log, which the demo's attacker edited, does not verify). The demo
runs as users run it: `python -m ra demo --log-only`, into a folder kept.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from schema_support import DATABASE, EventSchemas

SESSION_TYPES = ["session.connected", "session.authenticated", "consent.requested",
                 "consent.granted", "view.started", "control.requested", "consent.requested",
                 "consent.granted", "control.granted", "control.released", "chat.message",
                 "chat.message", "session.disconnected", "session.receipt"]


def _ra(*args: str, home: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RA_LOG_LEVEL": "warning"}
    if home is not None:
        env["RA_HOME"] = str(home)
    return subprocess.run([sys.executable, "-m", "ra", *args], capture_output=True, text=True,
                          env=env, timeout=120)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The folder `ra demo --log-only --home` left: Alice's home, Bob's, the forgery."""
    root = tmp_path_factory.mktemp("demo") / "run"
    result = _ra("demo", "--log-only", "--home", str(root))
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return root


def _events(database: Path) -> list[dict[str, object]]:
    conn = sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)
    try:
        return [json.loads(body) for (body,) in conn.execute(
            "SELECT body FROM events ORDER BY seq")]
    finally:
        conn.close()


def test_every_event_of_the_log_demo_matches_its_schema(demo: Path) -> None:
    schemas = EventSchemas()
    logs = sorted(demo.rglob(DATABASE))
    problems = [f"{database.parent.name} seq {event['seq']} {event['type']}: {problem}"
                for database in logs for event in _events(database)
                for problem in schemas.problems(event)]
    assert problems == []
    assert {p.parent.name for p in logs} == {"home", "helper", "rebuilt"}, logs
    for database in logs:
        events = _events(database)
        sessions = [e["type"] for e in events if str(e["stream"]).startswith("session:")]
        assert sessions == SESSION_TYPES, (database, sessions)
    invitation = [e["type"] for e in _events(demo / "home" / DATABASE)
                  if str(e["stream"]).startswith("invitation:")]
    assert invitation == ["invitation.created", "invitation.sent", "invitation.opened",
                          "invitation.accepted"]


@pytest.mark.parametrize("side", ["home", "helper"])
def test_the_log_demos_session_replays_without_an_anomaly(demo: Path, side: str) -> None:
    [session] = {str(e["stream"]).split(":", 1)[1] for e in _events(demo / side / DATABASE)
                 if str(e["stream"]).startswith("session:")}
    result = _ra("audit", "replay", session, "--instant", home=demo / side)
    if side == "home":  # the demo's attacker edited Alice's log: replay says so first
        assert result.returncode == 1, result.stderr
        assert result.stderr.startswith("ra: WARNING: the log does not verify (log TAMPERED: ")
    else:
        assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "ANOMALY" not in out
    assert "0 anomalies" in out
    assert "[released -> disconnected]" in out
    assert "receipt signed by both sides" in out
    assert "consents asked 2, given 2" in out
