"""Sessions for export tests: the real person-side engine and invitation service,
writing to a real EventStore, on a clock the test sets; each returns what happened."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ra.engine import Output, Record, SessionEngine
from ra.events import Actor, EventStore
from ra.events.model import format_time
from ra.home import Home
from ra.invitations.service import Invitations

PASSWORD = "correct horse battery staple 42"
ESCAPE = {"kind": "key", "key": "Escape", "code": "Escape", "down": True}
KEY_A = {"kind": "key", "key": "a", "code": "KeyA", "down": True}
T0 = datetime(2026, 3, 2, 9, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def at(self, seconds: float) -> datetime:
        self.now = T0 + timedelta(seconds=seconds)
        return self.now


@dataclass
class Happened:
    """What a scripted session did, to compare an export with."""

    session: str
    invitation: str
    person: str
    helper: str
    key: str
    address: str
    asked: list[dict[str, Any]] = field(default_factory=list)
    grants: list[dict[str, Any]] = field(default_factory=list)


class Recorder:
    """One home's log, its invitation service and a clock."""

    def __init__(self, root: Path) -> None:
        self.home = Home.at(root)
        self.home.ensure()
        self.clock = Clock()
        self.store = EventStore.open(self.home, sync="NORMAL", clock=self.clock)
        self.service = Invitations(self.store, self.home, clock=self.clock)

    def close(self) -> None:
        self.store.close()

    def _run(self, stream: str, outputs: list[Output]) -> list[Output]:
        events = [out.event for out in outputs if isinstance(out, Record)]
        if events:
            self.store.append(stream, None, events, now=self.clock.now)
        return outputs

    def session(self, start: float, *, person: str = "alice", helper: str = "bob",
                key: str = "ab" * 32, address: str = "203.0.113.5", view: bool = True,
                control: bool | None = True, rejected: int = 0, injected: int = 0,
                release: str = "esc") -> Happened:
        """One session at `start` seconds after T0: view asked (and answered `view`),
        then, if `control` is not None, control asked and answered; while in
        control, `rejected` Escapes refused and `injected` keys injected; then
        released by `release` (esc: the person's Esc; button: the helper's) and
        disconnected by the person."""
        clock = self.clock
        clock.at(start)
        created = self.service.create(name=person, message="help", password=PASSWORD)
        invitation = created.view.id
        session_id = str(uuid.uuid4())
        stream = f"session:{session_id}"
        view_ = self.service.get(invitation)
        helper_actor = Actor("helper", helper, key)
        clock.at(start + 1)
        view_ = self.service.record_open(view_, address, helper_actor)
        self.service.record_accept(view_, address, session_id, helper_actor)
        engine = SessionEngine("person", person)
        what = Happened(session_id, invitation, person, helper, key, address)
        self._run(stream, engine.connected(helper, start + 1, key=key, address=address))
        clock.at(start + 2)
        self._run(stream, engine.authenticated(start + 2))
        asked = format_time(clock.now)
        clock.at(start + 5)
        self._run(stream, engine.consent_answered("view", view, start + 5))
        what.asked.append({"scope": "view", "answer": "granted" if view else "denied",
                           "asked_at": asked, "answered_at": format_time(clock.now),
                           "took_ms": 3000})
        if view and control is not None:
            clock.at(start + 10)
            self._run(stream, engine.received({"type": "control.request"}, start + 10))
            asked = format_time(clock.now)
            clock.at(start + 12.5)
            self._run(stream, engine.consent_answered("control", control, start + 12.5))
            what.asked.append({"scope": "control",
                               "answer": "granted" if control else "denied",
                               "asked_at": asked, "answered_at": format_time(clock.now),
                               "took_ms": 2500})
            if control:
                granted_at = format_time(clock.now)
                for i in range(injected):
                    clock.at(start + 13 + i * 0.01)
                    self._run(stream, engine.received({"type": "input", "event": KEY_A},
                                                      start + 13 + i * 0.01))
                for i in range(rejected):
                    clock.at(start + 14 + i * 2)  # two seconds apart: one event each
                    self._run(stream, engine.received({"type": "input", "event": ESCAPE},
                                                      start + 14 + i * 2))
                clock.at(start + 40)
                if release == "esc":
                    self._run(stream, engine.esc_pressed(start + 40))
                else:
                    self._run(stream, engine.received(
                        {"type": "control.release", "via": release}, start + 40))
                what.grants.append({"granted_at": granted_at,
                                    "released_at": format_time(clock.now),
                                    "released_by": "person" if release == "esc" else "helper",
                                    "released_via": release, "duration_ms": 27500,
                                    "inputs_injected": injected,
                                    "inputs_rejected": rejected})
        clock.at(start + 50)
        if view:
            self._run(stream, engine.local_command("/disconnect", start + 50))
        return what
