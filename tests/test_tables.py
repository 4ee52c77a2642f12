"""Tables for people: columns line up by display width (CJK takes two columns, a
combining mark none), every cell is inert, and times are local with their zone
while JSON keeps UTC ISO 8601. Real `ra` processes, a real log."""

from __future__ import annotations

import json
import unicodedata
from datetime import datetime, timedelta

from ra.events import Actor, EventStore, NewEvent
from ra.home import Home

PASSWORD = "Blue-Harbour-Lamp-47"
#: A zone with no daylight saving that no test machine is in: UTC+3, called XYZ.
ZONE = {"TZ": "XYZ-3"}


def width(text: str) -> int:
    """Columns `text` takes on a terminal."""
    return sum(0 if unicodedata.combining(c) else
               2 if unicodedata.east_asian_width(c) in ("W", "F") else 1 for c in text)


def _column_starts_line_up(out: str, header: str, cells: list[str]) -> None:
    lines = out.splitlines()
    head = next(line for line in lines if header in line)
    at = width(head[:head.index(header)])
    for cell in cells:
        [line] = [line for line in lines if cell in line]
        assert width(line[:line.index(cell)]) == at, (cell, out)


def test_invite_list_lines_up_wide_and_combining_names(ra) -> None:  # type: ignore[no-untyped-def]
    names = ["山田太郎さん", "Zoe\u0308 Mu\u0308ller", "Bob"]
    for number, name in enumerate(names):
        ra("invite", "create", "--name", name, "--message", f"message-{number}",
           "--password-stdin", "--code", input=PASSWORD + "\n", check=True)
    out = ra("invite", "list", env=ZONE, check=True).stdout
    _column_starts_line_up(out, "MESSAGE", [f"message-{n}" for n in range(len(names))])
    _column_starts_line_up(out, "NAME", names)

    # People read local time with its zone; JSON keeps UTC.
    listed = json.loads(ra("invite", "list", "--json", env=ZONE, check=True).stdout)
    assert all(item["expires_at"].endswith("Z") for item in listed)
    for item in listed:
        utc = datetime.fromisoformat(item["expires_at"].replace("Z", "+00:00"))
        local = (utc + timedelta(hours=3)).strftime("%Y-%m-%d %H:%M") + " XYZ"
        [line] = [line for line in out.splitlines() if line.startswith(item["id"][:8])]
        assert local in line, (local, line)
    shown = ra("invite", "show", listed[0]["id"], env=ZONE, check=True).stdout
    assert " XYZ" in shown


def test_a_report_table_shows_peer_text_inert_aligned_and_in_local_time(  # type: ignore[no-untyped-def]
    ra, home: Home
) -> None:
    with EventStore.open(home) as store:
        store.append("session:s1", 0, [
            NewEvent("control.granted", {"scope": "input"}, Actor("person", "alice"),
                     origin="203.0.113.5"),
            NewEvent("control.released", {"reason": "\x1b[2Jdone\u202egnp.exe", "via": "esc"},
                     Actor("helper", "山田"), origin="198.51.100.7"),
        ])
    out = ra("audit", "report", "consent-and-control-grants", env=ZONE, check=True).stdout
    assert "\x1b" not in out and "\u202e" not in out
    assert "\\x1b[2Jdone\\u202egnp.exe" in out
    _column_starts_line_up(out, "origin", ["203.0.113.5", "198.51.100.7"])  # after 山田
    rows = json.loads(ra("audit", "report", "consent-and-control-grants", "--format", "json",
                         check=True).stdout)
    for row in rows:
        utc = datetime.fromisoformat(row["occurred_at"].replace("Z", "+00:00"))
        assert row["occurred_at"].endswith("Z")
        local = (utc + timedelta(hours=3)).strftime("%Y-%m-%d %H:%M:%S") + " XYZ"
        assert local in out
        assert row["occurred_at"] not in out
