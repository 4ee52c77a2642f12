"""A session's story (`ra.reports.story`, `ra audit replay`, `ra audit sessions`).

The sessions are made by the real sans-IO engine: each `Record` it hands out
is appended to a real SQLite `EventStore` at a chosen time, so every state
and duration in the story is known exactly. The real two-process session is
in test_live_story.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ra.cli.app import run
from ra.engine import Output, Record, SessionEngine
from ra.engine import messages as msg
from ra.events import EventStore
from ra.events.model import Actor, NewEvent
from ra.fingerprint import short_fingerprint
from ra.home import Home
from ra.reports.period import Period
from ra.reports.story import matches, play, story_json, summaries, tell

T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)
BOB_KEY = "3f2a19c08b7e55d1" + "0" * 48
EVE_KEY = "ee" * 32
POINTER = {"kind": "pointer", "x": 10, "y": 20}
HOSTILE_CHAT = "\x1b[2Jhello\nra: control ended\u202e"


class Session:
    """One side of a session, driven by the engine, recorded at times T0 + t seconds."""

    def __init__(self, store: EventStore, session_id: str, *, person: str = "Alice",
                 start: datetime = T0, consent_timeout_s: int = 60) -> None:
        self.store = store
        self.stream = f"session:{session_id}"
        self.engine = SessionEngine("person", person, refusals_every_s=1.0,
                                    consent_timeout_s=consent_timeout_s)
        self.start = start

    def at(self, t: float, call: Callable[[float], list[Output]]) -> list[Output]:
        outputs = call(t)
        events = [out.event for out in outputs if isinstance(out, Record)]
        self.append(t, events)
        return outputs

    def append(self, t: float, events: list[NewEvent]) -> None:
        if events:
            self.store.append(self.stream, None, events, now=self.start + timedelta(seconds=t))

    def helper_sends(self, t: float, message: dict[str, Any]) -> list[Output]:
        return self.at(t, lambda now: self.engine.received(message, now))

    def to_viewing(self, helper: str = "Bob (IT)", key: str = BOB_KEY,
                   address: str = "203.0.113.5", answer_at: float = 3.5) -> None:
        engine = self.engine
        self.at(0.0, lambda now: engine.connected(helper, now, key=key, address=address))
        self.at(0.5, engine.authenticated)
        self.at(answer_at, lambda now: engine.consent_answered("view", True, now))

    def control(self, asked: float, answered: float, granted: bool = True) -> None:
        self.helper_sends(asked, msg.control_request())
        self.at(answered, lambda now: self.engine.consent_answered("control", granted, now))


def full_session(store: EventStore, session_id: str = "a1b2c3d4e5f6a7b8") -> Session:
    """View, refused input, control released by Esc, hostile chat, a denial, control
    again, then the network goes: every kind of step, at known times."""
    s = Session(store, session_id)
    s.to_viewing()  # view asked at 0.5, granted at 3.5
    s.helper_sends(5.0, msg.input_event(POINTER))  # not in control: refused (count 1)
    s.helper_sends(5.2, msg.input_event(POINTER))
    s.helper_sends(5.4, msg.input_event(POINTER))
    s.at(6.5, s.engine.tick)  # the two counted since: one event, count 2
    s.control(10.0, 12.0)  # control from 12 ...
    s.at(20.0, s.engine.esc_pressed)  # ... to 20, by Esc
    s.helper_sends(25.0, msg.chat(HOSTILE_CHAT))
    s.control(30.0, 31.0, granted=False)
    s.control(32.0, 33.0)  # control from 33 ...
    s.at(40.0, s.engine.transport_lost)  # ... to 40: released by the end
    return s


FULL_STORY = [  # (seconds after the start, type, state after, took_s)
    (0.0, "session.connected", "connecting", None),
    (0.5, "session.authenticated", "authenticated", None),
    (0.5, "consent.requested", "awaiting_view_consent", None),
    (3.5, "consent.granted", "viewing", 3.0),
    (3.5, "view.started", "viewing", None),
    (5.0, "input.rejected", "viewing", None),
    (6.5, "input.rejected", "viewing", None),
    (10.0, "control.requested", "control_requested", None),
    (10.0, "consent.requested", "awaiting_control_consent", None),
    (12.0, "consent.granted", "awaiting_control_consent", 2.0),
    (12.0, "control.granted", "controlling", None),
    (20.0, "control.released", "released", 8.0),
    (25.0, "chat.message", "released", None),
    (30.0, "control.requested", "control_requested", None),
    (30.0, "consent.requested", "awaiting_control_consent", None),
    (31.0, "consent.denied", "awaiting_control_consent", 1.0),
    (31.0, "control.denied", "viewing", None),
    (32.0, "control.requested", "control_requested", None),
    (32.0, "consent.requested", "awaiting_control_consent", None),
    (33.0, "consent.granted", "awaiting_control_consent", 1.0),
    (33.0, "control.granted", "controlling", None),
    (40.0, "control.released", "released", 7.0),
    (40.0, "session.disconnected", "disconnected", 40.0),
]


def test_the_story_lists_every_event_with_its_state_and_durations(store: EventStore) -> None:
    s = full_session(store)
    told = tell(store.read_stream(s.stream))
    assert [(line.offset_s, line.type, line.after.value, line.took_s)
            for line in told.lines] == FULL_STORY
    assert [line.before for line in told.lines[1:]] == [line.after for line in told.lines[:-1]]
    assert told.anomalies == []
    # Who connected from where, the answers and the holds of control.
    assert told.lines[2].text == "Alice is asked: may Bob (IT) see the screen?"
    assert "Bob (IT) proved the invitation password" in told.lines[1].text
    assert short_fingerprint(BOB_KEY) in told.lines[1].text
    assert "from 203.0.113.5" in told.lines[1].text
    assert [(c.scope, c.answer, c.took_s) for c in told.consents] == [
        ("view", "granted", 3.0), ("control", "granted", 2.0), ("control", "denied", 1.0),
        ("control", "granted", 1.0)]
    assert [(h.granted_at - T0, h.released_at - T0 if h.released_at else None, h.by, h.via,
             h.held_s) for h in told.holds] == [
        (timedelta(seconds=12), timedelta(seconds=20), "person", "esc", 8.0),
        (timedelta(seconds=33), timedelta(seconds=40), "system", "disconnect", 7.0)]
    assert "via Esc, after 8.0 s of control" in told.lines[11].text
    assert "via the end of the session" in told.lines[21].text
    assert "network" in told.lines[-1].text
    # The whole session in one row.
    row = told.summary
    assert (row.person, row.helper, row.helper_key, row.helper_address) == (
        "Alice", "Bob (IT)", BOB_KEY, "203.0.113.5")
    assert (row.started, row.ended, row.ending, row.ended_by) == (
        T0, T0 + timedelta(seconds=40), "network", "system")
    assert (row.viewing_s, row.control_s) == (36.5, 15.0)  # from 3.5; 8 + 7
    assert (row.consents_asked, row.consents_given, row.inputs_rejected) == (4, 3, 3)
    assert (row.events, row.anomalies) == (len(FULL_STORY), 0)


def test_chat_and_names_in_the_story_are_inert(store: EventStore) -> None:
    s = Session(store, "c4a7c4a7c4a7c4a7")
    s.to_viewing(helper="Mallory\x1b]0;owned\x07\nra: ok")
    s.helper_sends(2.0, msg.chat(HOSTILE_CHAT))
    s.helper_sends(3.0, msg.chat("two  spaces,  kept"))
    told = tell(store.read_stream(s.stream))
    chat, plain = [line for line in told.lines if line.type == "chat.message"]
    assert plain.text.endswith(": two  spaces,  kept")
    assert chat.text.startswith("[chat] helper Mallory\\x1b]0;owned\\x07\\nra: ok: ")
    assert chat.text.endswith("\\x1b[2Jhello\\nra: control ended\\u202e")
    for line in told.lines:
        assert line.text.isprintable(), line.text


def test_an_event_the_table_does_not_allow_is_flagged_not_skipped(store: EventStore) -> None:
    s = Session(store, "0bad0bad0bad0bad")
    s.to_viewing()
    # Control granted while viewing, nobody having asked: the engine never writes it.
    s.append(5.0, [NewEvent("control.granted", {}, Actor("person", "Alice"))])
    s.at(8.0, lambda now: s.engine.local_command("/disconnect", now))
    s.append(9.0, [NewEvent("chat.message", {"from": "helper", "text": "late"},
                            Actor("helper", "Bob (IT)", BOB_KEY))])
    told = tell(store.read_stream(s.stream))
    assert [(line.type, line.before.value, line.after.value, line.anomaly is not None)
            for line in told.lines[-4:]] == [
        ("view.started", "viewing", "viewing", False),
        ("control.granted", "viewing", "viewing", True),  # shown, and the state stays
        ("session.disconnected", "viewing", "disconnected", False),
        ("chat.message", "disconnected", "disconnected", True),
    ]
    granted = told.lines[-3]
    assert granted.anomaly == ("the session machine does not allow control_granted while "
                               "viewing; the state stays viewing")
    assert told.lines[-1].anomaly == "chat.message after the session ended"
    assert told.summary.anomalies == 2 and told.summary.control_s == 0.0
    assert told.holds == ()
    assert story_json(told)["anomalies"] == 2


def test_what_may_follow_the_end_is_no_anomaly(store: EventStore) -> None:
    """The recorded screen's last chunk (vouched for before the receipt) and a later
    forgetting come after the session's end in a real log."""
    from ra.recording.chunks import ChunkInfo

    s = Session(store, "c0ffeec0ffeec0ff")
    s.to_viewing()
    s.at(8.0, lambda now: s.engine.local_command("/disconnect", now))
    last = ChunkInfo(index=0, sha256="ab" * 32, size=100, frames=3,
                     start=T0.timestamp() + 3.5, end=T0.timestamp() + 8.0)
    s.at(8.1, lambda now: s.engine.recording_chunk(last.payload(), now))
    s.append(60.0, [NewEvent("session.forgotten", {"why": "retention 30d", "by": "system"},
                             Actor("system", "ra"))])
    told = tell(store.read_stream(s.stream))
    assert [(line.type, line.after.value) for line in told.lines[-3:]] == [
        ("session.disconnected", "disconnected"), ("recording.chunk", "disconnected"),
        ("session.forgotten", "disconnected")]
    assert told.anomalies == [] and told.summary.anomalies == 0


def test_every_way_control_ends_is_told(store: EventStore) -> None:
    s = Session(store, "7e1ea5e57e1ea5e5")
    s.to_viewing()
    s.control(4.0, 5.0)
    s.at(6.0, lambda now: s.engine.release_clicked(now, "button"))
    s.control(7.0, 8.0)
    s.helper_sends(9.0, msg.control_release("command"))
    s.control(10.0, 11.0)
    s.at(12.0, s.engine.keymap_changed)
    s.control(13.0, 14.0)
    s.at(15.0, lambda now: s.engine.screen_lost("display failed", now))
    s.helper_sends(16.0, msg.control_request())  # chat only: refused
    s.helper_sends(17.0, msg.disconnect("helper"))
    told = tell(store.read_stream(s.stream))
    assert [(h.by, h.via, h.held_s) for h in told.holds] == [
        ("person", "button", 1.0), ("helper", "command", 1.0),
        ("person", "keymap-changed", 1.0), ("system", "view-unavailable", 1.0)]
    released = [line.text for line in told.lines if line.type == "control.released"]
    assert [text.split(" via ")[1] for text in released] == [
        "the release button, after 1.0 s of control",
        "the /release command, after 1.0 s of control",
        "a change of keyboard mapping, after 1.0 s of control",
        "the screen becoming unavailable, after 1.0 s of control"]
    assert [line.after.value for line in told.lines[-3:]] == [
        "chat_only", "chat_only", "disconnected"]
    assert "screen unavailable" in told.lines[-2].text
    assert told.summary.ending == "helper" and told.summary.ended_by == "helper"
    assert told.summary.viewing_s == 15.0 - 3.5 and told.summary.control_s == 4.0


def test_a_view_denied_by_timeout_ends_the_session(store: EventStore) -> None:
    s = Session(store, "71de0071de0071de", consent_timeout_s=5)
    s.at(0.0, lambda now: s.engine.connected("Eve", now, key=EVE_KEY))
    s.at(0.5, s.engine.authenticated)
    s.helper_sends(4.0, msg.heartbeat())
    s.at(5.5, s.engine.tick)
    told = tell(store.read_stream(s.stream))
    assert [line.after.value for line in told.lines] == [
        "connecting", "authenticated", "awaiting_view_consent", "disconnected"]
    assert told.consents[0].answer == "denied" and told.consents[0].took_s == 5.0
    assert told.lines[-1].text == ("Eve may not see the screen (timed out, by ra) (no answer "
                                   "within 5.0 s); the session lasted 5.5 s")
    row = told.summary
    assert (row.ending, row.ended_by, row.viewing_s, row.consents_given) == (
        "view consent timed out", "system", 0.0, 0)


def test_a_session_not_ended_is_measured_to_its_last_event(store: EventStore) -> None:
    s = Session(store, "0be110be110be110")
    s.to_viewing()
    s.control(4.0, 5.0)
    s.helper_sends(9.0, msg.chat("still working"))
    row = tell(store.read_stream(s.stream)).summary
    assert (row.ended, row.ending, row.state.value) == (None, "", "controlling")
    assert (row.viewing_s, row.control_s) == (5.5, 4.0)
    held = tell(store.read_stream(s.stream)).holds
    assert [(h.released_at, h.held_s) for h in held] == [(None, 4.0)]


# -- playing ---------------------------------------------------------------------------


def test_speed_scales_the_real_gaps_and_instant_does_not_wait(store: EventStore) -> None:
    s = full_session(store)
    lines = tell(store.read_stream(s.stream)).lines
    slept: list[float] = []
    shown: list[str] = []
    waited = play(lines, lambda line: shown.append(line.type), speed=4.0, sleep=slept.append)
    gaps = [b.offset_s - a.offset_s for a, b in zip(lines, lines[1:], strict=False)]
    assert slept == [gap / 4.0 for gap in gaps if gap > 0]
    assert waited == pytest.approx(40.0 / 4.0) and sum(slept) == pytest.approx(10.0)
    assert shown == [line.type for line in lines]

    slept.clear()
    shown.clear()
    assert play(lines, lambda line: shown.append(line.type), speed=None,
                sleep=slept.append) == 0.0
    assert slept == [] and len(shown) == len(lines)
    with pytest.raises(ValueError):
        play(lines, print, speed=0.0, sleep=slept.append)


def _cli(home: Home, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run([*args, "--home", str(home.root)])
    out, err = capsys.readouterr()
    return code, out, err


def test_replay_waits_through_the_story_at_its_speed(
        home: Home, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    with EventStore.open(home) as store:
        full_session(store)
    from ra.cli import audit

    slept: list[float] = []
    monkeypatch.setattr(audit, "_sleep", slept.append)
    code, out, err = _cli(home, capsys, "audit", "replay", "a1b2c3d4", "--speed", "8")
    assert (code, err) == (0, "")
    assert sum(slept) == pytest.approx(40.0 / 8) and max(slept) == pytest.approx(8.0 / 8)
    slept.clear()
    code, instant, _ = _cli(home, capsys, "audit", "replay", "a1b2c3d4", "--instant")
    assert code == 0 and slept == [] and instant == out
    slept.clear()
    code, default, _ = _cli(home, capsys, "audit", "replay", "session:a1b2c3d4e5f6a7b8")
    assert code == 0 and sum(slept) == pytest.approx(40.0) and default == out  # real time


def test_replay_prints_the_story_for_people(home: Home,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    with EventStore.open(home) as store:
        full_session(store)
    code, out, _ = _cli(home, capsys, "audit", "replay", "a1b2", "--instant")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "session a1b2c3d4e5f6a7b8"
    assert lines[1] == (f"  person Alice; helper Bob (IT), key {short_fingerprint(BOB_KEY)}, "
                        "from 203.0.113.5")
    body = lines[3:3 + len(FULL_STORY)]
    assert [line.split()[0] for line in body] == [
        "+0:00.0", "+0:00.5", "+0:00.5", "+0:03.5", "+0:03.5", "+0:05.0", "+0:06.5",
        "+0:10.0", "+0:10.0", "+0:12.0", "+0:12.0", "+0:20.0", "+0:25.0", "+0:30.0",
        "+0:30.0", "+0:31.0", "+0:31.0", "+0:32.0", "+0:32.0", "+0:33.0", "+0:33.0",
        "+0:40.0", "+0:40.0"]
    assert "[awaiting_control_consent -> controlling]" in body[10]
    assert "allows Bob (IT) to see the screen (answered after 3.0 s)" in body[3]
    assert "[chat] helper Bob (IT): \\x1b[2Jhello\\nra: control ended\\u202e" in body[12]
    assert "\x1b" not in out and "\u202e" not in out
    assert "ended " in lines[3 + len(FULL_STORY)] and "network (by system)" in out
    assert "screen shown 36.5 s, helper in control 15.0 s; consents asked 4, given 3; " \
           "inputs rejected 3" in out
    assert out.rstrip().endswith("0 anomalies")


def test_replay_shows_an_anomaly_in_the_terminal(home: Home,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    with EventStore.open(home) as store:
        s = Session(store, "0bad0bad0bad0bad")
        s.to_viewing()
        s.append(5.0, [NewEvent("control.granted", {}, Actor("person", "Alice"))])
    code, out, _ = _cli(home, capsys, "audit", "replay", "0bad", "--instant")
    assert code == 0
    at = out.splitlines().index(next(line for line in out.splitlines()
                                     if "[viewing]" in line and "has control" in line))
    assert out.splitlines()[at + 1].strip() == (
        "ANOMALY: the session machine does not allow control_granted while viewing; "
        "the state stays viewing")
    assert "1 anomaly: events the session machine does not allow" in out


def test_replay_json_shape(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    with EventStore.open(home) as store:
        full_session(store)
    code, out, _ = _cli(home, capsys, "audit", "replay", "a1b2c3d4", "--json")
    assert code == 0
    doc = json.loads(out)
    assert set(doc) == {"session", "events", "consents", "control", "anomalies", "log"}
    assert doc["anomalies"] == 0
    assert doc["log"] == {"verified": True, "problem": None}
    assert doc["session"]["session"] == "a1b2c3d4e5f6a7b8"
    assert doc["session"]["helper"] == {"name": "Bob (IT)", "fingerprint": BOB_KEY,
                                        "address": "203.0.113.5"}
    assert doc["session"]["started"] == "2026-03-02T09:00:00.000000Z"
    assert doc["session"]["ended"] == "2026-03-02T09:00:40.000000Z"
    assert [(e["offset_s"], e["type"], e["state"], e["took_s"]) for e in doc["events"]] == [
        (offset, kind, state, took) for offset, kind, state, took in FULL_STORY]
    first = doc["events"][0]
    assert set(first) == {"seq", "at", "offset_s", "type", "actor", "text", "state_before",
                          "state", "trigger", "anomaly", "took_s", "payload"}
    assert first["actor"] == {"kind": "helper", "id": "Bob (IT)", "key": BOB_KEY}
    chat = doc["events"][12]
    assert chat["payload"]["text"] == HOSTILE_CHAT  # JSON keeps the text as sent
    assert doc["consents"][0] == {"scope": "view", "asked": "2026-03-02T09:00:00.500000Z",
                                  "answer": "granted", "reason": None,
                                  "answered": "2026-03-02T09:00:03.500000Z", "took_s": 3.0}
    assert doc["control"] == [
        {"from": "2026-03-02T09:00:12.000000Z", "until": "2026-03-02T09:00:20.000000Z",
         "by": "person", "via": "esc", "held_s": 8.0},
        {"from": "2026-03-02T09:00:33.000000Z", "until": "2026-03-02T09:00:40.000000Z",
         "by": "system", "via": "disconnect", "held_s": 7.0}]


@pytest.mark.parametrize(("args", "says"), [
    (["ffff"], "no stream session:ffff in this log"),
    (["abc"], "give at least 4 characters"),
    (["invitation:a1b2c3d4"], "is not a session"),
    (["a1b2", "--speed", "2", "--instant"], "give --speed N or --instant, not both"),
    (["a1b2", "--speed", "2", "--json"], "takes no --speed"),
    (["a1b2", "--speed", "0"], "--speed"),
])
def test_replay_usage_errors_are_one_line(home: Home, capsys: pytest.CaptureFixture[str],
                                          args: list[str], says: str) -> None:
    with EventStore.open(home) as store:
        full_session(store)
        full_session(store, "a1b2ffff00000000")  # so "a1b2" alone is ambiguous
    code, out, err = _cli(home, capsys, "audit", "replay", *args)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and says in err


def test_replay_needs_a_unique_start(home: Home, capsys: pytest.CaptureFixture[str]) -> None:
    with EventStore.open(home) as store:
        full_session(store)
        full_session(store, "a1b2ffff00000000")
    code, _, err = _cli(home, capsys, "audit", "replay", "a1b2")
    assert code == 2 and "matches several streams" in err
    code, out, _ = _cli(home, capsys, "audit", "replay", "a1b2f", "--instant")
    assert code == 0 and out.startswith("session a1b2ffff00000000\n")


# -- the sessions of a log -------------------------------------------------------------


def three_sessions(store: EventStore) -> None:
    """Alice helped by Bob, on the 2nd; Carol helped by Eve, on the 3rd (Carol ends it);
    Alice and Eve, on the 4th, refused."""
    full_session(store, "a1b2c3d4e5f6a7b8")
    s = Session(store, "ca401ca401ca401c", person="Carol", start=T0 + timedelta(days=1))
    s.to_viewing(helper="Eve", key=EVE_KEY, address="198.51.100.7")
    s.control(5.0, 6.0)
    s.at(66.0, lambda now: s.engine.local_command("/disconnect", now))
    s = Session(store, "a11ce0e7e0a11ce0", person="Alice", start=T0 + timedelta(days=2))
    s.at(0.0, lambda now: s.engine.connected("Eve", now, key=EVE_KEY))
    s.at(0.5, s.engine.authenticated)
    s.at(2.5, lambda now: s.engine.consent_answered("view", False, now))


def test_summaries_filter_by_time_and_people(store: EventStore) -> None:
    three_sessions(store)
    rows = summaries(store)
    assert [row.session for row in rows] == ["a1b2c3d4e5f6a7b8", "ca401ca401ca401c",
                                             "a11ce0e7e0a11ce0"]

    def chosen(since: datetime | None = None, until: datetime | None = None,
               **given: Any) -> list[str]:
        return [row.person + "/" + row.helper for row in rows
                if matches(row, Period(since, until), **given)]

    assert chosen(person="alice") == ["Alice/Bob (IT)", "Alice/Eve"]
    assert chosen(helper="EVE") == ["Carol/Eve", "Alice/Eve"]
    assert chosen(helper="ee ee ee") == ["Carol/Eve", "Alice/Eve"]  # a key's start
    assert chosen(helper="3f2a19") == ["Alice/Bob (IT)"]
    assert chosen(person="alice", helper="eve") == ["Alice/Eve"]
    assert chosen(since=T0 + timedelta(days=1)) == ["Carol/Eve", "Alice/Eve"]
    # A session still going at `since` counts: Carol's ended 66 s after it started.
    assert chosen(since=T0 + timedelta(days=1, seconds=60)) == ["Carol/Eve", "Alice/Eve"]
    assert chosen(until=T0 + timedelta(days=1)) == ["Alice/Bob (IT)"]
    assert chosen(since=T0 + timedelta(hours=1), until=T0 + timedelta(days=2)) == [
        "Carol/Eve"]
    assert chosen(person="nobody") == []


def test_a_period_holds_since_and_not_until() -> None:
    since, until = T0, T0 + timedelta(hours=1)
    period = Period(since, until)
    assert [period.holds(since - timedelta(microseconds=1)), period.holds(since),
            period.holds(until - timedelta(microseconds=1)), period.holds(until)] == [
        False, True, True, False]
    # a time span meets it when it ends at `since` or later and starts before `until`
    assert period.overlaps(since - timedelta(hours=1), since)
    assert not period.overlaps(until, until + timedelta(hours=1))
    assert Period(None, None).holds(T0) and Period(since, None).holds(T0 + timedelta(days=9))
    # the log's text orders as the times do
    text = period.text()
    assert (text.since, text.until) == ("2026-03-02T09:00:00.000000Z",
                                        "2026-03-02T10:00:00.000000Z")
    assert text.holds("2026-03-02T09:59:59.999999Z") and not text.holds(text.until)


def test_audit_sessions_one_line_a_session(home: Home,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    with EventStore.open(home) as store:
        three_sessions(store)
    code, out, _ = _cli(home, capsys, "audit", "sessions")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split()[:5] == ["session", "person", "helper", "key", "started"]
    assert len(rows) == 3
    assert rows[0].startswith("a1b2c3d4e5f6 ") and "Bob (IT)" in rows[0]
    assert short_fingerprint(BOB_KEY) in rows[0]
    assert "network (by system)" in rows[0] and "36.5 s" in rows[0] and "15.0 s" in rows[0]
    assert rows[0].split()[-3:] == ["4", "3", "3"]  # consents asked, given; inputs rejected
    assert "user (by person)" in rows[1] and "1 min 02 s" in rows[1] and "1 min 00 s" in rows[1]
    assert "view consent declined (by person)" in rows[2]


def test_audit_sessions_filters_and_json(home: Home,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    with EventStore.open(home) as store:
        three_sessions(store)
    code, out, _ = _cli(home, capsys, "audit", "sessions", "--helper", "eve", "--person",
                        "ALICE", "--json")
    assert code == 0
    (row,) = json.loads(out)
    assert row == {
        "session": "a11ce0e7e0a11ce0", "person": "Alice",
        "helper": {"name": "Eve", "fingerprint": EVE_KEY, "address": None},
        "started": "2026-03-04T09:00:00.000000Z", "ended": "2026-03-04T09:00:02.500000Z",
        "last_event": "2026-03-04T09:00:02.500000Z", "ending": "view consent declined",
        "ended_by": "person", "state": "disconnected", "viewing_s": 0.0, "control_s": 0.0,
        "consents_asked": 1, "consents_given": 0, "inputs_rejected": 0, "events": 4,
        "anomalies": 0,
    }
    code, out, _ = _cli(home, capsys, "audit", "sessions", "--since",
                        "2026-03-03T09:00:30Z", "--until", "2026-03-04T00:00:00Z", "--jsonl")
    assert code == 0
    assert [json.loads(line)["session"] for line in out.splitlines()] == ["ca401ca401ca401c"]
    code, out, err = _cli(home, capsys, "audit", "sessions", "--since", "yesterday")
    assert code == 2 and out == "" and len(err.splitlines()) == 1


def test_the_person_is_named_by_the_invitation_when_no_event_names_them(
        store: EventStore) -> None:
    s = Session(store, "0a0a0a0a0a0a0a0a", person="Dana", consent_timeout_s=5)
    s.at(0.0, lambda now: s.engine.connected("Eve", now, key=EVE_KEY))
    s.at(0.5, s.engine.authenticated)
    s.at(5.5, s.engine.tick)  # nobody answered: no event by the person
    store.append("invitation:inv1", 0, [
        NewEvent("invitation.created", {"name": "Dana"}, Actor("person", "dana")),
        NewEvent("invitation.accepted", {"origin": "203.0.113.5",
                                         "session_id": "0a0a0a0a0a0a0a0a"},
                 Actor("helper", "Eve", EVE_KEY))])
    (row,) = summaries(store)
    assert row.person == "Dana"
    assert tell(store.read_stream(s.stream)).summary.person == ""

