"""`ra audit report --html`: sessions made by the real engine, read in headless Chromium.

The sessions are driven through the sans-IO engine with known times and
appended to a real log, as the driver does (each input's events in one
append, at that input's time). The report is written by the real command
and opened from disk in Debian's Chromium, with every request routed: the
only one allowed is the file itself.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from conftest import RunRa

from ra.engine import Output, Record, SessionEngine
from ra.events import EventStore
from ra.home import Home
from ra.invitations.service import Invitations
from ra.reports.html import X0, X1

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]
START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
KEY = "3f2a19c08b7e55d1" * 4
#: What a hostile helper calls itself: markup, a bidi override, a fake line.
HOSTILE = ('Bob <img src="http://203.0.113.9/x.png" onerror="alert(1)">'
           '</style><script>alert(2)</script>\u202egnp.exe\n[ra] ok')

Step = tuple[float, Callable[[SessionEngine, float], list[Output]]]


def record_session(store: EventStore, session: str, start: datetime, steps: Sequence[Step],
                   *, helper: str = "Bob (IT)", key: str = KEY) -> None:
    """Drive a person's engine through `steps` (seconds after `start`) and append
    what it records, each step's events in one append at that step's time."""
    engine = SessionEngine("person", "alice")
    stream = f"session:{session}"
    version = 0
    script: list[Step] = [
        (0, lambda e, now: e.connected(helper, now, key=key, address="198.51.100.7")),
        *steps,
    ]
    for offset, step in script:
        events = [out.event for out in step(engine, offset) if isinstance(out, Record)]
        if events:
            store.append(stream, version, events, now=start + timedelta(seconds=offset))
            version += len(events)


def ask_control(engine: SessionEngine, now: float) -> list[Output]:
    return engine.received({"type": "control.request"}, now)


#: The known session: view allowed, control granted and taken back with Esc,
#: asked again and refused, granted again, then the person disconnects.
KNOWN: list[Step] = [
    (1, lambda e, now: e.authenticated(now)),
    (5, lambda e, now: e.consent_answered("view", True, now)),
    (20, ask_control),
    (26, lambda e, now: e.consent_answered("control", True, now)),
    (80, lambda e, now: e.esc_pressed(now)),
    (90, ask_control),
    (95, lambda e, now: e.consent_answered("control", False, now)),
    (100, ask_control),
    (104, lambda e, now: e.consent_answered("control", True, now)),
    (130, lambda e, now: e.disconnect_clicked(now)),
]
KNOWN_END = 130
CONTROL = [(26, 80, "person", "esc"), (104, 130, "person", "disconnect")]
VIEW = [(5, 130)]
CONSENT = [(1, 5, "view", "granted"), (20, 26, "control", "granted"),
           (90, 95, "control", "denied"), (100, 104, "control", "granted")]
#: A session whose person refused to be viewed.
REFUSED: list[Step] = [
    (1, lambda e, now: e.authenticated(now)),
    (9, lambda e, now: e.consent_answered("view", False, now)),
]


@pytest.fixture
def log(home: Home) -> Home:
    """Three sessions (one a day earlier, one from a hostile helper) and five wrong
    passwords that lock an invitation."""
    with EventStore.open(home) as store:
        record_session(store, "0001early", START - timedelta(days=1), KNOWN)
        record_session(store, "0002known", START, KNOWN)
        record_session(store, "0003refused", START + timedelta(minutes=5), REFUSED,
                       helper=HOSTILE)
        clock = [START + timedelta(minutes=10)]
        invitations = Invitations(store, home, clock=lambda: clock[0])
        view = invitations.create(name="Alice", message="printer",
                                  password="correct-Horse-battery-9").view
        for _ in range(5):
            clock[0] += timedelta(minutes=1)
            view = invitations.record_auth_failure(view, "198.51.100.66",
                                                   invitations_helper())
    return home


def invitations_helper() -> Any:
    from ra.invitations.service import UNKNOWN_HELPER

    return UNKNOWN_HELPER


def at(offset: float, start: datetime = START) -> str:
    return (start + timedelta(seconds=offset)).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def x_at(offset: float, end: float) -> float:
    return X0 + offset / end * (X1 - X0)


def needs_chromium() -> None:
    if not (os.path.exists(CHROMIUM) and shutil.which(CHROMIUM)):
        pytest.fail(f"{CHROMIUM} is missing: run `make setup` (it installs chromium)")


async def open_report(path: Path, shot: Path) -> dict[str, Any]:
    """Open the report from disk with every request routed; read what is drawn."""
    from playwright.async_api import Route, async_playwright

    url = path.resolve().as_uri()
    requested: list[str] = []
    refused: list[str] = []
    console: list[str] = []

    async def route(route: Route) -> None:
        if route.request.url == url:
            await route.continue_()
        else:
            refused.append(route.request.url)
            await route.abort()

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM,
                                                   args=CHROMIUM_ARGS, headless=True)
        try:
            context = await browser.new_context(viewport={"width": 1100, "height": 900})
            await context.route("**/*", route)
            page = await context.new_page()
            page.on("request", lambda request: requested.append(request.url))
            page.on("console", lambda message: console.append(message.text))
            await page.goto(url)
            await page.wait_for_load_state("load")
            drawn = await page.evaluate("""() => {
              const out = {};
              for (const section of document.querySelectorAll('section.session')) {
                const svg = section.querySelector('svg.timeline');
                out[section.dataset.session] = {
                  svg: {t0: svg.dataset.t0, t1: svg.dataset.t1,
                        width: svg.getBoundingClientRect().width},
                  fields: Object.fromEntries([...section.querySelectorAll('dd')]
                                             .map(d => [d.dataset.field, d.textContent])),
                  rects: [...svg.querySelectorAll('rect[data-kind]')].map(r => ({
                    kind: r.dataset.kind, start: r.dataset.start, end: r.dataset.end,
                    scope: r.dataset.scope || '', answer: r.dataset.answer || '',
                    by: r.dataset.releasedBy || '', via: r.dataset.via || '',
                    holder: r.dataset.holder || '',
                    x: r.x.baseVal.value, width: r.width.baseVal.value,
                    shown: r.getBoundingClientRect().width,
                    fill: getComputedStyle(r).fill})),
                };
              }
              return {sessions: out,
                      totals: Object.fromEntries([...document.querySelectorAll('[data-total]')]
                                                 .map(d => [d.dataset.total, d.textContent])),
                      images: document.querySelectorAll('img, script, iframe, object').length,
                      text: document.body.innerText};
            }""")
            await page.screenshot(path=str(shot), full_page=True)
        finally:
            await browser.close()
    return {**drawn, "requested": requested, "refused": refused, "console": console}


def test_the_report_draws_each_sessions_timeline_and_loads_nothing(
        log: Home, ra: RunRa, tmp_path: Path) -> None:
    needs_chromium()
    out = tmp_path / "report.html"
    done = ra("audit", "report", "--html", str(out), "--since", "2026-11-25T00:00:00Z",
              check=True)
    assert "2 sessions" in done.stdout
    shot = tmp_path / "report.png"
    seen = asyncio.run(asyncio.wait_for(open_report(out, shot), 60))

    # nothing but the file itself was asked for, and nothing was refused by the CSP
    assert seen["requested"] == [out.resolve().as_uri()]
    assert seen["refused"] == []
    assert not [m for m in seen["console"] if "Content Security Policy" in m]
    assert shot.stat().st_size > 10_000

    sessions = seen["sessions"]
    assert list(sessions) == ["0002known", "0003refused"]  # the earlier day is outside
    known = sessions["0002known"]
    assert known["svg"]["t0"] == at(0) and known["svg"]["t1"] == at(KNOWN_END)
    assert known["fields"]["helper"] == "Bob (IT)"
    assert known["fields"]["helper-key"] == " ".join(KEY[i:i + 4] for i in range(0, 64, 4))
    assert known["fields"]["from"] == "198.51.100.7"
    assert known["fields"]["ended"] == "by person (user)"

    def spans(kind: str) -> list[dict[str, Any]]:
        return [r for r in known["rects"] if r["kind"] == kind]

    control = spans("control")
    assert [(r["start"], r["end"], r["by"], r["via"], r["holder"]) for r in control] == [
        (at(a), at(b), by, via, "Bob (IT)") for a, b, by, via in CONTROL]
    assert [(r["start"], r["end"]) for r in spans("view")] == [(at(a), at(b)) for a, b in VIEW]
    assert [(r["start"], r["end"], r["scope"], r["answer"]) for r in spans("consent")] == [
        (at(a), at(b), scope, answer) for a, b, scope, answer in CONSENT]
    for rect, (a, b) in zip(control + spans("view") + spans("consent"),
                            [c[:2] for c in CONTROL] + VIEW + [c[:2] for c in CONSENT],
                            strict=True):
        assert rect["x"] == pytest.approx(x_at(a, KNOWN_END), abs=0.01)
        assert rect["width"] == pytest.approx(x_at(b, KNOWN_END) - x_at(a, KNOWN_END),
                                              abs=0.01)
        assert rect["shown"] > 5  # drawn, at a size a reader sees
    # styled by the one inline style the policy allows: control is orange, view blue
    assert {r["fill"] for r in control} == {"rgb(233, 139, 42)"}
    assert {r["fill"] for r in spans("view")} == {"rgb(139, 184, 232)"}
    denied = [r for r in spans("consent") if r["answer"] == "denied"]
    assert {r["fill"] for r in denied} == {"rgb(200, 67, 59)"}

    # the hostile helper's name is shown as text, inert: no element, no new line
    refused = sessions["0003refused"]
    assert seen["images"] == 0
    name = refused["fields"]["helper"]
    assert name.startswith('Bob <img src="http://203.0.113.9/x.png"')
    assert "\\u202e" in name and "\u202e" not in name and "\n" not in name
    assert [(r["scope"], r["answer"]) for r in refused["rects"]] == [("view", "denied")]
    assert refused["fields"]["ended"] == "by person (view consent denied)"
    assert not [r for r in refused["rects"] if r["kind"] in ("view", "control")]

    totals = seen["totals"]
    assert totals["sessions"] == "2"
    assert totals["control"] == "1 min 20 s"  # 54 s + 26 s
    assert totals["denied"] == "2 (1 view, 1 control)"
    assert totals["lockouts"] == "1"
    assert totals["failed-passwords"] == "5"


def test_the_report_file_is_inert_and_self_contained(log: Home, ra: RunRa,
                                                     tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    ra("audit", "report", "--html", str(out), check=True)
    text = out.read_text("utf-8")
    policy = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', text)
    assert policy is not None and "default-src 'none'" in policy.group(1)
    assert "unsafe-inline" not in policy.group(1)
    # one style element, no script, nothing fetched from anywhere
    assert text.count("<style>") == 1 and "<script" not in text
    assert not re.search(r"""<[^>]*\s(src|href|on[a-z]+)\s*=|url\(|@import""", text)
    assert "&lt;img src=&quot;http://203.0.113.9/x.png&quot;" in text
    assert "\u202e" not in text
    assert (out.stat().st_mode & 0o077) == 0  # names and addresses: the owner's to share
    assert text.count('class="session"') == 3  # no window: every session


def test_the_window_counts_what_lies_in_it(log: Home, ra: RunRa, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    done = ra("audit", "report", "--html", str(out), "--since", "2026-11-24T00:00:00Z",
              "--until", "2026-11-25T09:04:00Z", check=True)
    assert done.stdout.strip() == (
        f"wrote {out}: 2 sessions, 2 consents denied, 0 lock-outs, 0 failed passwords")
    text = out.read_text("utf-8")
    assert 'data-session="0001early"' in text and 'data-session="0002known"' in text
    assert 'data-session="0003refused"' not in text


@pytest.mark.parametrize(("args", "says"), [
    (["consent-and-control-grants", "--html", "r.html"], "not both"),
    (["--since", "1h"], "--since and --until go with --html"),
    (["--html", "r.html", "--since", "yesterday"], "neither a time"),
    (["--html", "r.html", "--since", "1h", "--until", "2h"], "later than --since"),
    (["--html", "no/such/folder/r.html"], "no folder"),
])
def test_report_usage_errors_are_one_line(log: Home, ra: RunRa, tmp_path: Path,
                                          args: list[str], says: str) -> None:
    done = ra("audit", "report", *args, cwd=tmp_path)
    assert done.returncode == 2
    assert says in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_an_empty_log_makes_a_report_that_says_so(store: EventStore, ra: RunRa,
                                                  tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    ra("audit", "report", "--html", str(out), check=True)
    assert "No session started in this period." in out.read_text("utf-8")
