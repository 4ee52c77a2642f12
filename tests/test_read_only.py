"""Commands that only read create nothing, and partial ids select one match or list them.

Every command runs through the real entry point (`python -m ra`) in a subprocess.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ra.events import Actor, EventStore, NewEvent
from ra.home import Home

PERSON = Actor("person", "alice")

#: Commands that only look at the log (or at one invitation in it): against a home
#: without a log, each says so in one line and exits 2.
NEEDS_A_LOG = [
    ("audit", "verify"),
    ("audit", "verify", "--json"),
    ("audit", "verify", "--quiet"),
    ("audit", "log"),
    ("audit", "log", "--json"),
    ("audit", "log", "--stream", "session:21b4"),
    ("audit", "report", "consent-and-control-grants"),
    ("audit", "report", "session-timeline", "--format", "csv"),
    ("audit", "prove", "0"),
    ("invite", "show", "21b4c0de"),
    ("invite", "expire", "21b4c0de"),
    ("invite", "revoke", "21b4c0de"),
    ("invite", "delete", "21b4c0de"),
    ("invite", "resend", "21b4c0de", "--code"),
]


def _ra(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "RA_HOME"}
    return subprocess.run([sys.executable, "-m", "ra", *args, "--home", str(home)],
                          capture_output=True, text=True, env=env, timeout=60)


def _one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize("args", NEEDS_A_LOG, ids=" ".join)
def test_a_home_without_a_log_is_said_and_never_created(tmp_path: Path,
                                                        args: tuple[str, ...]) -> None:
    missing = tmp_path / "nowhere"
    result = _ra(missing, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert _one_line(result) == (f"ra: no log in {missing}: nothing has been recorded "
                                 "there (check --home or RA_HOME)")
    assert result.stdout == ""
    assert not missing.exists()
    # A folder that exists but holds no log: the same, and it stays empty.
    empty = tmp_path / "empty"
    empty.mkdir()
    result = _ra(empty, *args)
    assert result.returncode == 2
    assert "ra: no log in" in _one_line(result)
    assert list(empty.iterdir()) == []


def test_consistency_against_a_home_without_a_log(tmp_path: Path) -> None:
    kept = tmp_path / "kept.checkpoint"
    elsewhere = Home.at(tmp_path / "elsewhere")
    with EventStore.open(elsewhere) as store:
        store.append("session:s1", 0, [NewEvent("session.connected", {"peer": "x"}, PERSON)])
        kept.write_bytes(store.checkpoint().to_file_bytes())
    missing = tmp_path / "nowhere"
    result = _ra(missing, "audit", "consistency", "--from", str(kept))
    assert result.returncode == 2
    assert "ra: no log in" in _one_line(result)
    assert not missing.exists()


def test_listing_invitations_of_a_home_without_a_log_lists_none_and_creates_nothing(
        tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    listed = _ra(missing, "invite", "list")
    assert (listed.returncode, listed.stdout, listed.stderr) == (0, "No open invitations.\n", "")
    listed = _ra(missing, "invite", "list", "--all", "--json")  # one document: empty
    assert (listed.returncode, listed.stdout) == (0, "[]\n")
    listed = _ra(missing, "invite", "list", "--all", "--jsonl")  # one line an invitation
    assert (listed.returncode, listed.stdout) == (0, "")
    assert not missing.exists()


def test_verify_and_prove_an_existing_empty_log(tmp_path: Path) -> None:
    home = Home.at(tmp_path / "home")
    EventStore.open(home).close()  # a log with no events is still a log
    verified = _ra(home.root, "audit", "verify")
    assert verified.returncode == 0, verified.stderr
    proved = _ra(home.root, "audit", "prove", "99")
    assert proved.returncode != 0
    assert "seq 99 is not in a log of 0 events" in _one_line(proved)


# -- partial ids ----------------------------------------------------------------------


@pytest.fixture
def logged(tmp_path: Path) -> Path:
    """A log with sessions 21b4aaaa.., 21b4bbbb.., 9f00cccc.. and invitations abcd1111..,
    abcd2222.."""
    home = Home.at(tmp_path / "home")
    with EventStore.open(home) as store:
        for session in ("21b4aaaa0001", "21b4bbbb0002", "9f00cccc0003"):
            store.append(f"session:{session}", 0, [
                NewEvent("session.connected", {"peer": "bob"}, PERSON),
                NewEvent("chat.message", {"from": "person", "text": f"in {session}"}, PERSON),
            ])
        for invitation in ("abcd1111", "abcd2222"):
            store.append(f"invitation:{invitation}", 0, [
                NewEvent("invitation.created", {"note": invitation}, PERSON)])
    return home.root


def test_a_partial_session_id_selects_its_one_session(logged: Path) -> None:
    for selector in ("session:9f00", "session:9f00cccc", "9f00", "session:9f00cccc0003"):
        result = _ra(logged, "audit", "log", "--stream", selector, "--jsonl")
        assert result.returncode == 0, result.stderr
        events = [json.loads(line) for line in result.stdout.splitlines()]
        assert [e["stream"] for e in events] == ["session:9f00cccc0003"] * 2, selector
        result = _ra(logged, "audit", "log", "--stream", selector, "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == events, selector


def test_an_ambiguous_partial_id_lists_the_candidates(logged: Path) -> None:
    for selector in ("session:21b4", "21b4"):
        result = _ra(logged, "audit", "log", "--stream", selector)
        assert result.returncode == 2
        assert _one_line(result) == (
            f"ra: {selector} matches several streams: session:21b4aaaa0001, "
            "session:21b4bbbb0002; give more of the id")
        assert result.stdout == ""
    shown = _ra(logged, "invite", "show", "abcd")
    assert shown.returncode == 2
    assert _one_line(shown) == ("ra: abcd matches 2 invitations: abcd1111, abcd2222; "
                                "give more of the id")
    expired = _ra(logged, "invite", "expire", "abcd")
    assert expired.returncode == 2 and "abcd1111, abcd2222" in _one_line(expired)


def test_an_id_that_matches_nothing_is_said(logged: Path) -> None:
    result = _ra(logged, "audit", "log", "--stream", "session:ffff")
    assert result.returncode == 2
    assert _one_line(result) == "ra: no stream session:ffff in this log"
    result = _ra(logged, "audit", "log", "--stream", "session:21")
    assert result.returncode == 2
    assert "at least 4 characters" in _one_line(result)
