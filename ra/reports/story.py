"""A session's story, told from its events: what happened, in which state, for how long.

Theory of operation
-------------------
The log holds what happened; the story says it for people. `tell` folds a
session's recorded events, in order, through the session machine's own table
(`ra.engine.replay.trigger_for` names the trigger an event states,
`ra.statemachines.session.next_state` says where the table takes it), which
is exactly what the live engine fired when it recorded them. Each event
becomes one `StoryLine`: when (and how long after the first event), who,
one sentence, and the state before and after it.

An event the table does not allow from the state the story is in (a
``control.granted`` while ``viewing``, anything after ``disconnected`` but
what `AFTER_END` names) is not skipped and not believed: it is a line like the
others, flagged with the `anomaly` that says why, and the state stays where
the table left it (as `ra.engine.replay.fold` does). A log that tells such a
story was not written by this engine as it stands.

Durations come from the events' own times: how long each consent question
waited for its answer, how long each hold of control lasted and how it ended
(`ControlHold`), and, per session (`SessionSummary`), how long the screen
was shown (the states in `ra.statemachines.session.STREAMING`, control
included) and how long the helper had control. A session whose last event
is not its end (still running, or its process died and has not been closed
yet) is measured up to its last event and has no end.

Everything a peer could write (names, chat, reasons, details) reaches a
line only through `ra.inert`. Nothing here reads a clock or sleeps except
`play`, which waits between lines through the `sleep` it is given, so tests
pass a fake one. `sessions` is the one function that reads a store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ra.engine.replay import trigger_for
from ra.events.model import Actor, RecordedEvent
from ra.fingerprint import short_fingerprint
from ra.inert import inert
from ra.statemachines.session import STREAMING, SessionState, next_state

if TYPE_CHECKING:
    from ra.events import EventStore
    from ra.reports.period import Period

S = SessionState
#: The prefix of every session's stream.
SESSION_PREFIX = "session:"
#: How much of a name, reason or detail a line shows; chat shows `TEXT_SHOWN`.
NAME_SHOWN = 80
TEXT_SHOWN = 500
#: Events that may follow the end of a session: its signed receipt; the last chunk of
#: the person's recorded screen, sealed as the session closes and vouched for before
#: the receipt (`ra.recording`); and its forgetting, whenever that comes (`ra.forget`).
AFTER_END = frozenset({"session.receipt", "recording.chunk", "session.forgotten"})
#: How each way of ending control reads.
VIA_TEXT = {
    "esc": "Esc",
    "button": "the release button",
    "command": "the /release command",
    "timeout": "a timeout",
    "disconnect": "the end of the session",
    "keymap-changed": "a change of keyboard mapping",
    "view-unavailable": "the screen becoming unavailable",
}
SCOPE_TEXT = {"view": "see the screen", "control": "control the mouse and keyboard"}
#: The words for the events told by their type alone: a template over {who} (who caused
#: it), {helper}, {person} and {reason} (the event's, or the default given here).
TEXT_BY_TYPE: dict[str, tuple[str, str]] = {
    "session.connected": ("{who} connected; the invitation password is being checked", ""),
    "view.started": ("the screen is shown to {helper}", ""),
    "view.unavailable": ("the screen cannot be shown ({reason}); chat only", "unavailable"),
    "control.requested": ("{helper} asks for control", ""),
    "control.granted": ("{helper} has control of the mouse and keyboard", ""),
    "control.denied": ("{helper} does not get control ({reason})", "denied"),
}


@dataclass(frozen=True, slots=True)
class StoryLine:
    """One event of the story: when, who, what, and the state it leaves."""

    seq: int
    at: datetime
    offset_s: float
    """Seconds since the session's first event."""
    type: str
    actor: Actor
    text: str
    """One inert sentence for people."""
    before: SessionState
    after: SessionState
    trigger: str | None
    """The machine trigger the event states (None: it does not move the state)."""
    anomaly: str | None = None
    """Why the table does not allow this event here (None: it does)."""
    took_s: float | None = None
    """A consent answer: how long it took; a release: how long control was held;
    the end: how long the session lasted."""
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConsentAsked:
    """One consent question and its answer (None: never answered in the log)."""

    scope: str
    asked_at: datetime
    answer: str | None = None
    """``granted`` or ``denied``."""
    reason: str = ""
    answered_at: datetime | None = None

    @property
    def took_s(self) -> float | None:
        if self.answered_at is None:
            return None
        return (self.answered_at - self.asked_at).total_seconds()


@dataclass(frozen=True, slots=True)
class ControlHold:
    """The helper had control from `granted_at` to `released_at` (None: still held
    at the last event), released by `by` via `via`."""

    granted_at: datetime
    released_at: datetime | None = None
    by: str = ""
    via: str = ""
    held_s: float = 0.0


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """A session in one row: who, when, how it ended, and what was allowed."""

    session: str
    """The session id (the stream without ``session:``)."""
    person: str
    helper: str
    helper_key: str
    """The fingerprint of the key the helper proved ("" if none was recorded)."""
    helper_address: str
    started: datetime
    last_event: datetime
    ended: datetime | None
    ending: str
    """How it ended: the reason of ``session.disconnected``, ``view consent
    <reason>`` when viewing was refused, or "" if it has not ended."""
    ended_by: str
    state: SessionState
    viewing_s: float
    control_s: float
    consents_asked: int
    consents_given: int
    inputs_rejected: int
    events: int
    anomalies: int

    def to_json(self) -> dict[str, Any]:
        """The row for scripts: times in UTC ISO 8601, durations in seconds."""
        from ra.events.model import format_time

        return {
            "session": self.session,
            "person": self.person,
            "helper": {"name": self.helper, "fingerprint": self.helper_key or None,
                       "address": self.helper_address or None},
            "started": format_time(self.started),
            "ended": None if self.ended is None else format_time(self.ended),
            "last_event": format_time(self.last_event),
            "ending": self.ending or None,
            "ended_by": self.ended_by or None,
            "state": self.state.value,
            "viewing_s": round(self.viewing_s, 6),
            "control_s": round(self.control_s, 6),
            "consents_asked": self.consents_asked,
            "consents_given": self.consents_given,
            "inputs_rejected": self.inputs_rejected,
            "events": self.events,
            "anomalies": self.anomalies,
        }


@dataclass(frozen=True, slots=True)
class Story:
    """A session told: its summary, every event as a line, its consents and control."""

    summary: SessionSummary
    lines: Sequence[StoryLine]
    consents: Sequence[ConsentAsked]
    holds: Sequence[ControlHold]

    @property
    def anomalies(self) -> list[StoryLine]:
        return [line for line in self.lines if line.anomaly is not None]


# -- telling --------------------------------------------------------------------------


def tell(events: Sequence[RecordedEvent], *, person: str = "") -> Story:
    """The story of one session's events (in log order, one stream).

    `person` names the person when no event of the session does (the name
    on the invitation it accepted, say).
    """
    if not events:
        raise ValueError("a session's story needs at least one event")
    teller = _Teller(events[0], person)
    for event in events:  # who they are, first: every line names them the same way
        teller.learn(event)
    for event in events:
        teller.add(event)
    return teller.finish(events[-1])


class _Teller:
    """The fold, kept while the lines are written (one instance per story)."""

    def __init__(self, first: RecordedEvent, person: str) -> None:
        self.first = first
        self.state = S.CONNECTING
        self.lines: list[StoryLine] = []
        self.consents: list[ConsentAsked] = []
        self.holds: list[ControlHold] = []
        self.person = person
        self.helper = ""
        self.helper_key = ""
        self.helper_address = ""
        self.ended: datetime | None = None
        self.ending = ""
        self.ended_by = ""
        self.seconds: dict[SessionState, float] = {}
        self.rejected = 0
        self._since = first.occurred_at
        self._open_consent: dict[str, int] = {}  # scope -> index in consents
        self._held_from: datetime | None = None
        self._person_seen = False

    # the people ---------------------------------------------------------------

    def learn(self, event: RecordedEvent) -> None:
        actor = event.actor
        if actor.kind == "person" and not self._person_seen:
            self._person_seen = True  # the session's own word beats the invitation's
            self.person = actor.id
        if actor.kind == "helper":
            self.helper = self.helper or actor.id
            self.helper_key = self.helper_key or actor.key
        if event.type == "session.authenticated":
            payload = event.payload
            self.helper = _field(payload, "helper") or self.helper
            self.helper_key = _field(payload, "fingerprint") or self.helper_key
            self.helper_address = _field(payload, "address") or self.helper_address

    def _name(self, actor: Actor) -> str:
        if actor.kind == "system":
            return "ra"
        return f"{actor.kind} {inert(actor.id, NAME_SHOWN)}"

    @property
    def helper_name(self) -> str:
        return inert(self.helper or "the helper", NAME_SHOWN)

    @property
    def person_name(self) -> str:
        return inert(self.person or "the person", NAME_SHOWN)

    # the fold -----------------------------------------------------------------

    def add(self, event: RecordedEvent) -> None:
        before = self.state
        trigger = trigger_for(event.type, event.payload)
        anomaly: str | None = None
        after = before
        if trigger is not None:
            moved = next_state(before, trigger)
            if moved is None:
                anomaly = (f"the session machine does not allow {trigger} while "
                           f"{before.value}; the state stays {before.value}")
            else:
                after = moved
        elif before is S.DISCONNECTED and event.type not in AFTER_END:
            anomaly = f"{inert(event.type, NAME_SHOWN)} after the session ended"
        self._spend(event.occurred_at)
        took: float | None = None
        text = self._text(event)
        if anomaly is None:
            took, extra = self._account(event, before, after)
            text += extra
        self.state = after
        self.lines.append(StoryLine(
            seq=event.seq, at=event.occurred_at,
            offset_s=(event.occurred_at - self.first.occurred_at).total_seconds(),
            type=event.type, actor=event.actor, text=text, before=before, after=after,
            trigger=trigger, anomaly=anomaly, took_s=took, payload=event.payload,
        ))

    def _spend(self, now: datetime) -> None:
        """The time since the last event was spent in the current state."""
        spent = (now - self._since).total_seconds()
        if spent > 0:
            self.seconds[self.state] = self.seconds.get(self.state, 0.0) + spent
        self._since = max(self._since, now)

    def _account(self, event: RecordedEvent, before: SessionState,
                 after: SessionState) -> tuple[float | None, str]:
        """Consents, holds of control, rejections and the end: (took_s, words to add)."""
        payload, at, kind = event.payload, event.occurred_at, event.type
        scope = _field(payload, "scope")
        took: float | None = None
        extra = ""
        if kind == "consent.requested" and scope:
            self._open_consent[scope] = len(self.consents)
            self.consents.append(ConsentAsked(scope, at))
        elif kind in ("consent.granted", "consent.denied") and scope in self._open_consent:
            index = self._open_consent.pop(scope)
            asked = self.consents[index]
            answered = ConsentAsked(scope, asked.asked_at, kind.split(".")[1],
                                    _field(payload, "reason"), at)
            self.consents[index] = answered
            took = answered.took_s
            extra = (f" (no answer within {duration_text(took)})"
                     if answered.reason == "timed out"
                     else f" (answered after {duration_text(took)})")
        elif kind == "control.granted":
            self._held_from = at
        elif kind == "control.released" and self._held_from is not None:
            took = (at - self._held_from).total_seconds()
            self.holds.append(ControlHold(self._held_from, at, _field(payload, "by"),
                                          _field(payload, "via"), took))
            self._held_from = None
            extra = f", after {duration_text(took)} of control"
        elif kind == "input.rejected":
            count = payload.get("count", 1)
            self.rejected += count if type(count) is int and count > 0 else 1
        if after is S.DISCONNECTED and before is not S.DISCONNECTED:
            self.ended = at
            if kind == "consent.denied":
                self.ending = f"view consent {_field(payload, 'reason') or 'denied'}"
                self.ended_by = event.actor.kind
            else:
                self.ending = _field(payload, "reason") or "unknown"
                self.ended_by = _field(payload, "by") or event.actor.kind
            lasted = (at - self.first.occurred_at).total_seconds()
            extra += f"; the session lasted {duration_text(lasted)}"
            took = lasted if took is None else took
        return took, extra

    # the words ----------------------------------------------------------------

    def _text(self, event: RecordedEvent) -> str:
        payload, kind = event.payload, event.type
        who = self._name(event.actor)
        helper, person = self.helper_name, self.person_name
        scope = _field(payload, "scope")
        reason = inert(_field(payload, "reason"), NAME_SHOWN)
        if kind in TEXT_BY_TYPE:
            template, default = TEXT_BY_TYPE[kind]
            return template.format(who=who, helper=helper, person=person,
                                   reason=reason or default)
        if kind == "session.authenticated":
            parts = [f"{helper} proved the invitation password"]
            if self.helper_key:
                parts.append(f"key {short_fingerprint(self.helper_key)}")
            if self.helper_address:
                parts.append(f"from {inert(self.helper_address, NAME_SHOWN)}")
            return ", ".join(parts)
        if kind == "consent.requested":
            what = SCOPE_TEXT.get(scope, f"do {inert(scope, NAME_SHOWN)}")
            return f"{person} is asked: may {helper} {what}?"
        if kind == "consent.granted":
            return f"{who} allows {helper} to {SCOPE_TEXT.get(scope, 'do it')}"
        if kind == "consent.denied":
            what = SCOPE_TEXT.get(scope, "do it")
            if reason == "declined":
                return f"{helper} may not {what}: {who} declined"
            return f"{helper} may not {what} ({reason or 'denied'}, by {who})"
        if kind == "control.released":
            via = _field(payload, "via")
            how = VIA_TEXT.get(via, inert(via, NAME_SHOWN) or "an unknown way")
            return f"control ends: released by {inert(_field(payload, 'by'), 20)} via {how}"
        if kind == "input.rejected":
            return f"refused input from {helper}: {_rejected_text(payload)}"
        if kind == "chat.message":
            sender = inert(_field(payload, "from") or event.actor.kind, 20)
            name = helper if sender == "helper" else person if sender == "person" else ""
            said = inert(_field(payload, "text"), TEXT_SHOWN)
            return f"[chat] {sender} {name}: {said}" if name else f"[chat] {sender}: {said}"
        if kind == "session.disconnected":
            by = inert(_field(payload, "by"), 20)
            text = f"the session ends: {reason or 'unknown'} (by {by})"
            detail = _field(payload, "detail") or _field(payload, "invitation")
            return text + (f": {inert(detail, NAME_SHOWN)}" if detail else "")
        if kind == "session.receipt":
            peer = payload.get("peer")
            return "receipt signed by " + ("both sides" if peer else "this side only")
        return f"{inert(kind, NAME_SHOWN)} {inert(_brief(payload), NAME_SHOWN)}"

    # the end ------------------------------------------------------------------

    def finish(self, last: RecordedEvent) -> Story:
        if self._held_from is not None:  # still held at the last event
            held = (last.occurred_at - self._held_from).total_seconds()
            self.holds.append(ControlHold(self._held_from, None, "", "", held))
        streaming = sum(s for state, s in self.seconds.items() if state in STREAMING)
        summary = SessionSummary(
            session=self.first.stream.removeprefix(SESSION_PREFIX),
            person=self.person, helper=self.helper, helper_key=self.helper_key,
            helper_address=self.helper_address,
            started=self.first.occurred_at, last_event=last.occurred_at,
            ended=self.ended, ending=self.ending, ended_by=self.ended_by,
            state=self.state, viewing_s=streaming,
            control_s=self.seconds.get(S.CONTROLLING, 0.0),
            consents_asked=len(self.consents),
            consents_given=sum(1 for c in self.consents if c.answer == "granted"),
            inputs_rejected=self.rejected, events=len(self.lines),
            anomalies=sum(1 for line in self.lines if line.anomaly is not None),
        )
        return Story(summary, tuple(self.lines), tuple(self.consents), tuple(self.holds))


def _field(payload: Mapping[str, Any], name: str) -> str:
    """A payload field as text ("" if absent); a value of another type is shown as text."""
    value = payload.get(name) if isinstance(payload, Mapping) else None
    if value is None:
        return ""
    return value if isinstance(value, str) else str(value)


def _rejected_text(payload: Mapping[str, Any]) -> str:
    count = payload.get("count", 1)
    parts = [f"{count} message{'' if count == 1 else 's'}"]
    for facet in ("kinds", "reasons", "states"):
        values = payload.get(facet)
        if isinstance(values, Mapping) and values:
            shown = ", ".join(f"{key} {n}" for key, n in values.items())
            parts.append(f"{facet} {shown}")
    return inert("; ".join(parts), TEXT_SHOWN)


def _brief(payload: Mapping[str, Any]) -> str:
    import json

    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= 80 else text[:77] + "..."


def duration_text(seconds: float | None) -> str:
    """``0.4 s``, ``12.3 s``, ``3 min 05 s``, ``2 h 04 min``; ``-`` for None."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f} s"
    whole = int(seconds)
    if whole < 3600:
        return f"{whole // 60} min {whole % 60:02d} s"
    return f"{whole // 3600} h {whole % 3600 // 60:02d} min"


# -- the sessions of a log --------------------------------------------------------------


def sessions(store: EventStore) -> Iterator[tuple[str, list[RecordedEvent]]]:
    """Every session stream of the log with its events, in order of their first event."""
    grouped: dict[str, list[RecordedEvent]] = {}
    for event in store.iter_events(stream_prefix=SESSION_PREFIX):
        grouped.setdefault(event.stream, []).append(event)
    yield from grouped.items()


def invitation_names(store: EventStore) -> dict[str, str]:
    """Session id -> the name on the invitation it accepted (the person's log only)."""
    names: dict[str, str] = {}
    accepted: dict[str, str] = {}
    for event in store.iter_events(stream_prefix="invitation:",
                                   types=["invitation.created", "invitation.accepted"]):
        if event.type == "invitation.created":
            names[event.stream] = _field(event.payload, "name")
        elif _field(event.payload, "session_id"):
            accepted[_field(event.payload, "session_id")] = event.stream
    return {session: names.get(stream, "") for session, stream in accepted.items()}


def summaries(store: EventStore) -> list[SessionSummary]:
    """Every session of the log, summarized, by start time."""
    named = invitation_names(store)
    found = [tell(events, person=named.get(stream.removeprefix(SESSION_PREFIX), "")).summary
             for stream, events in sessions(store)]
    return sorted(found, key=lambda summary: (summary.started, summary.session))


def matches(
    summary: SessionSummary,
    period: Period[datetime],
    *,
    person: str | None = None,
    helper: str | None = None,
) -> bool:
    """Whether the session went on at some time in `period` and its people match.

    `person` matches a name containing it (any case); `helper` a name
    containing it, or a key fingerprint starting with it (spaces ignored).
    """
    if not period.overlaps(summary.started, summary.ended or summary.last_event):
        return False
    if person is not None and person.casefold() not in summary.person.casefold():
        return False
    if helper is not None:
        wanted = helper.casefold()
        compact = "".join(wanted.split())
        by_key = bool(compact) and summary.helper_key.startswith(compact)
        if wanted not in summary.helper.casefold() and not by_key:
            return False
    return True


# -- playing --------------------------------------------------------------------------


def play(
    lines: Iterable[StoryLine],
    show: Callable[[StoryLine], None],
    *,
    speed: float | None = 1.0,
    sleep: Callable[[float], None] | None = None,
) -> float:
    """Show each line after the time that passed before it, divided by `speed`.

    `speed` None shows every line at once. `sleep` waits (default `time.sleep`).
    Returns the seconds waited: the session's length over `speed`.
    """
    if speed is not None and not speed > 0:
        raise ValueError("speed must be positive")
    wait = time.sleep if sleep is None else sleep
    waited = 0.0
    previous: float | None = None
    for line in lines:
        if speed is not None and previous is not None and line.offset_s > previous:
            pause = (line.offset_s - previous) / speed
            wait(pause)
            waited += pause
        previous = line.offset_s if previous is None else max(previous, line.offset_s)
        show(line)
    return waited


def line_json(line: StoryLine) -> dict[str, Any]:
    """A story line for scripts: UTC time, offset and durations in seconds, the states."""
    from ra.events.model import format_time

    return {
        "seq": line.seq,
        "at": format_time(line.at),
        "offset_s": round(line.offset_s, 6),
        "type": line.type,
        "actor": line.actor.to_json(),
        "text": line.text,
        "state_before": line.before.value,
        "state": line.after.value,
        "trigger": line.trigger,
        "anomaly": line.anomaly,
        "took_s": None if line.took_s is None else round(line.took_s, 6),
        "payload": dict(line.payload),
    }


def story_json(story: Story) -> dict[str, Any]:
    """The whole story for scripts (`ra audit replay --json`)."""
    from ra.events.model import format_time

    def at(moment: datetime | None) -> str | None:
        return None if moment is None else format_time(moment)

    return {
        "session": story.summary.to_json(),
        "events": [line_json(line) for line in story.lines],
        "consents": [{"scope": c.scope, "asked": at(c.asked_at), "answer": c.answer,
                      "reason": c.reason or None, "answered": at(c.answered_at),
                      "took_s": None if c.took_s is None else round(c.took_s, 6)}
                     for c in story.consents],
        "control": [{"from": at(h.granted_at), "until": at(h.released_at),
                     "by": h.by or None, "via": h.via or None, "held_s": round(h.held_s, 6)}
                    for h in story.holds],
        "anomalies": len(story.anomalies),
    }


__all__ = [
    "ConsentAsked",
    "ControlHold",
    "SessionSummary",
    "Story",
    "StoryLine",
    "duration_text",
    "invitation_names",
    "line_json",
    "matches",
    "play",
    "sessions",
    "story_json",
    "summaries",
    "tell",
]
