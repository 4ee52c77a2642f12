"""The sans-IO engine of one session, for one side (the person's or the helper's).

Theory of operation
-------------------
The engine never does I/O, never reads a clock and never sleeps. Its driver
calls one input method per fact (a connection arrived, the peer sent a
message, the person answered a prompt, Esc was pressed, time passed) with
``now`` in monotonic seconds, and performs the outputs it gets back, in
order. Each output is a small frozen imperative from `ra.engine.outputs`.

Persist, then act: every state change is first a `Record` (an event for the
session's stream), and the driver appends it before performing any output
after it in the same list. So consent is in the log before `StartStreaming`,
a control grant before `EnableInput`, a release before `DisableInput` and
before anything else; and no `Inject` is ever emitted unless the log's state
is ``controlling``.

The person's side is the authority: it asks for consent, injects input and
streams the screen. The helper's side asks and forwards; it records what the
person's side tells it (a grant from the peer is recorded with the person as
actor) and never injects or streams anything. Both sides keep the same state
machine, so both logs replay to the same lifecycle.

The engine's state is its events. It changes state in one way only: it
records an event, and `_apply` folds that very event into its state with
`ra.engine.replay.fold`, the step `replay()` takes over a log. Before
recording, the table is asked (`SessionMachine.permits`) whether the move
the event states is allowed from here; if not, `IllegalMove` is raised and
nothing is recorded. So the live engine and replay are one code path, and
after any prefix of what the engine recorded its state is what replay of that
prefix gives.

No screen, no view, no control: when the person's screen cannot be shown
(``screen_unavailable`` at the start: the person chose ``--no-screen``, there
is no display or it cannot be opened; `screen_lost` later: the display
failed), the person's side records ``view.unavailable`` with the reason
instead of asking for view consent (or, later, after releasing any control
with ``via`` ``view-unavailable``), stops streaming, tells the helper and
says what still works: chat. The session is then ``chat_only``: it never
records ``view.started`` or ``control.granted``, and a control request is
answered with ``control.denied`` (reason ``screen unavailable``).

Both logs agree on who ended a session and why: the same
``session.disconnected`` ``by`` and ``reason`` on both sides. ``by`` is the
person (reason ``user``) or the helper (reason ``helper``) when one of them
chose to end it, and ``system`` when nobody chose (`messages.SYSTEM_REASONS`:
a network loss, the invitation ended, an error, a flood), whichever side
noticed it first: the side that ends the session tells the other
(``disconnect``, with the reason), and the other records that reason with the
same ``by``. A side may give only its own reason or one its side can notice
(`messages.ENDS`): a helper cannot speak for the person or say that the
invitation ended. A helper that says ``network`` for its own decision hides
nothing it could not hide by dropping the connection. A view consent refused
(a no, or a time-out) ends the session on both sides with ``consent.denied``
itself: the machine goes straight to ``disconnected``.

Peers are not trusted. A message this version does not understand, one the
peer's role may not send, or one with a malformed input event ends the
session with reason ``error``, and the ``session.disconnected`` event says why
(``detail``); so does a break of the wire protocol below the messages, which
the driver reports with `protocol_error`. Input that arrives outside
``controlling`` and the Escape key are dropped and counted as refused
(the kind of input, never the key, which could spell a password).

Refusals are recorded coalesced (`ra.events.tally`): the first at once as
``input.rejected`` with ``count`` 1, those that follow within a second as one
``input.rejected`` with their ``count``, ``kinds``, ``reasons`` and ``states``,
handed out by `tick` (`next_deadline` says when) and, at the latest, just
before the session's last event, so the counts always add up. A helper that
keeps sending what its state does not allow, more than `FLOOD_LIMIT` refused
messages within `FLOOD_WINDOW_S` seconds, is disconnected with reason
``flood``; refusals in the `RACE_GRACE_S` seconds after control ended are
recorded but not held against it (its input was on the way when control
ended, which takes a round trip to learn; a laggy link can hold a few
hundred pointer moves). Chat is recorded whole, message by message, so a
peer that sends more than `CHAT_LIMIT` chat messages within `FLOOD_WINDOW_S`
seconds is disconnected with reason ``flood`` too.

Driver mistakes (calling a person-only input on the helper's side,
authenticating twice) raise `IllegalMove`. After ``disconnected`` every input
returns ``[]`` (`_live`).

What the peer wrote is shown inert (`ra.inert`): a chat message is one line
that starts with ``[chat]`` and the sender's role and name (`chat_line`), and
the helper's name in a consent question cannot add a line to it. The
terminal makes every line it prints inert again, so the peer's name in any
status line is harmless too.

Who the helper is: the handshake proved the helper's identity key and the
name it gave (`ra.net.handshake`). The driver passes them to `connected`
with the address the helper came from, and, on the person's side, what the
person's own log says about that key and that name (`Seen`). The helper is
then ``Actor("helper", name, key=fingerprint)`` on every event it causes;
``session.authenticated`` records its name, fingerprint and address; and
the consent question names the helper, a short form of the key
(`ra.fingerprint.short_fingerprint`) and the address, and says so when this
key came before under another name, or this name with another key.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import wraps
from typing import Any, Concatenate, ParamSpec

from ra.engine import messages as msg
from ra.engine.messages import Role
from ra.engine.outputs import (
    Close,
    DisableInput,
    Dismiss,
    EnableInput,
    Inject,
    Output,
    Prompt,
    PromptKind,
    Record,
    Send,
    Show,
    StartStreaming,
    StopStreaming,
)
from ra.engine.replay import fold, trigger_for
from ra.events.model import SYSTEM, Actor, NewEvent, Outcome
from ra.events.tally import EVERY_S, Counted, Tally, Window
from ra.fingerprint import short_fingerprint
from ra.inert import inert
from ra.statemachines.base import IllegalMove
from ra.statemachines.session import STREAMING, SessionMachine, SessionState, next_state
from ra.vocabulary import ESCAPE_REFUSED, HELPER_RELEASE_VIA

S = SessionState

CONSENT_TIMEOUT_S = 60
PEER_TIMEOUT_S = 10.0
HEARTBEAT_S = 2.0
#: More refused messages than this within FLOOD_WINDOW_S seconds end the session.
FLOOD_LIMIT = 200
FLOOD_WINDOW_S = 10.0
#: Refusals this soon after control ended do not count towards FLOOD_LIMIT.
RACE_GRACE_S = 5.0
#: More chat messages from the peer than this within FLOOD_WINDOW_S seconds end the
#: session too: each is an event, kept whole (people type far fewer).
CHAT_LIMIT = 50
#: The longest ``detail`` a ``session.disconnected`` event keeps.
MAX_DETAIL = 200

WARNING = "Only allow someone you contacted yourself."
#: How much of a peer's name, or of a detail it caused, is shown.
NAME_SHOWN = 80
#: Every chat line starts with this; ra's own questions never do.
CHAT_PREFIX = "[chat]"
#: How many earlier names of a key the question lists.
NAMES_SHOWN = 3
#: What the view question says when the screen is recorded (ra.recording).
RECORDED = "This session is recorded on this computer. "


@dataclass(frozen=True)
class Seen:
    """What the person's log says about a helper before this session.

    `other_names`: names this key came with before (other than today's);
    `other_key`: whether today's name came before with another key.
    """

    other_names: Sequence[str] = ()
    other_key: bool = False


def prompt_text(
    kind: PromptKind,
    helper: str,
    timeout_s: int = CONSENT_TIMEOUT_S,
    *,
    key: str = "",
    address: str = "",
    seen: Seen | None = None,
    recorded: bool = False,
) -> str:
    """The question the person is asked: who asks, for what, and the warning.

    ``Bob (IT) asks to see your screen. Key 3f2a 19c0 8b7e 55d1 …, connecting
    from 203.0.113.5.`` then what the log knew of that key or name, what a yes
    allows, and the warning. The helper's name (and any earlier name) is
    shown inert (`ra.inert`): it cannot add a line or move the cursor.
    """
    helper = inert(helper, NAME_SHOWN)
    who = _who(key, address, seen)
    if kind == "view":
        what = (
            f"{helper} asks to see your screen.{who} If you allow it, {helper} "
            "will see everything on your screen until the session ends. "
            f"{RECORDED if recorded else ''}"
            f"Allow {helper} to view your screen?"
        )
    else:
        what = (
            f"{helper} asks to control your mouse and keyboard.{who} If you allow "
            f"it, {helper} can use your computer as if sitting at it; press Esc at any "
            f"time to take control back. Allow {helper} to control your mouse and keyboard?"
        )
    return f"{what} {WARNING} (No answer within {timeout_s} s means no.)"


def _who(key: str, address: str, seen: Seen | None) -> str:
    """`` Key …, connecting from …. Careful: …`` (each part only if known)."""
    parts = []
    if key:
        parts.append(f"Key {short_fingerprint(key)}")
    if address:
        parts.append(f"connecting from {inert(address, NAME_SHOWN)}")
    text = f" {', '.join(parts)}." if parts else ""
    if text:
        text = text[:2].upper() + text[2:]
    if seen is not None and seen.other_names:
        names = ", ".join(f"'{inert(name, NAME_SHOWN)}'"
                          for name in seen.other_names[:NAMES_SHOWN])
        more = " and others" if len(seen.other_names) > NAMES_SHOWN else ""
        text += f" Careful: this key was seen before as {names}{more}."
    if seen is not None and seen.other_key:
        text += " Careful: someone came before under this name with another key."
    return text


def chat_line(role: Role, name: str, text: str) -> str:
    """A chat message as one line that says who wrote it: ``[chat] helper Bob: text``.

    Name and text are inert, so the message cannot end its line, start
    another or reach back into the lines above.
    """
    return f"{CHAT_PREFIX} {role} {inert(name, NAME_SHOWN)}: {inert(text, msg.MAX_CHAT)}"


def _reported(fact: msg.Consent) -> str:
    """The trigger of a consent report from the person's side: the trigger of the event
    the helper's side records for it (an answer about control is stated by
    ``control.granted`` or ``control.denied``, the ``consent.*`` event states none)."""
    trigger = (trigger_for(f"consent.{fact.status}", {"scope": fact.scope})
               or trigger_for(f"control.{fact.status}", {}))
    assert trigger is not None, fact
    return trigger


P = ParamSpec("P")


def _live(
    method: Callable[Concatenate[SessionEngine, P], list[Output]],
) -> Callable[Concatenate[SessionEngine, P], list[Output]]:
    """An input of the engine: after ``disconnected`` it does nothing and returns ``[]``."""

    @wraps(method)
    def live(engine: SessionEngine, /, *args: P.args, **kwargs: P.kwargs) -> list[Output]:
        if engine.state is S.DISCONNECTED:
            return []
        return method(engine, *args, **kwargs)

    return live


class SessionEngine:
    """One side of one session: inputs in, outputs out, no I/O.

    `role` is ``"person"`` (the one who shares the screen) or ``"helper"``;
    `me` is this side's name; the peer's name arrives with `connected`.
    """

    def __init__(
        self,
        role: Role,
        me: str,
        *,
        consent_timeout_s: int = CONSENT_TIMEOUT_S,
        peer_timeout_s: float = PEER_TIMEOUT_S,
        heartbeat_s: float = HEARTBEAT_S,
        label: str = "",
        refusals_every_s: float = EVERY_S,
        flood_limit: int = FLOOD_LIMIT,
        flood_window_s: float = FLOOD_WINDOW_S,
        screen_unavailable: str | None = None,
        key: str = "",
        recording: bool | None = None,
    ) -> None:
        """`screen_unavailable` (person only): why the screen cannot be shown in this
        session, one of `messages.VIEW_UNAVAILABLE_REASONS`; None if it can.

        `recording` (person only): whether the person's side records the screen it
        sends (`ra.recording`); the view question says so, and
        ``session.authenticated`` records the choice (``recording``: ``screen`` or
        ``off``). None: not said (a side that knows nothing of recording)."""
        if role not in ("person", "helper"):
            raise ValueError(f"role must be 'person' or 'helper', not {role!r}")
        if screen_unavailable is not None and (
                role != "person" or screen_unavailable not in msg.VIEW_UNAVAILABLE_REASONS):
            raise ValueError(f"screen_unavailable {screen_unavailable!r} is not a person's "
                             f"reason: {sorted(msg.VIEW_UNAVAILABLE_REASONS)}")
        self.role: Role = role
        self.peer_role: Role = "helper" if role == "person" else "person"
        self.me = me or "unknown"
        self.peer = "unknown"
        self.key = key
        """This side's key fingerprint, if it proved one (the helper's)."""
        self.peer_key = ""
        """The peer's key fingerprint, if it proved one (the helper's, on the person's side)."""
        self.peer_address = ""
        """Where the peer's connection came from (the helper's address, person's side)."""
        self.peer_seen = Seen()
        self.consent_timeout_s = consent_timeout_s
        self.peer_timeout_s = peer_timeout_s
        self.heartbeat_s = heartbeat_s
        self.label = label
        """Names the session in a refused move's sentence (`IllegalMove`)."""
        self._state = SessionState.CONNECTING
        self._connected = False
        self._prompt: tuple[PromptKind, float] | None = None
        self._last_heard: float | None = None
        self._next_heartbeat: float | None = None
        self._refused = Tally(refusals_every_s)
        self._flood = Window(flood_limit, flood_window_s)
        self._chats = Window(CHAT_LIMIT, flood_window_s)
        self._controlling_seen: float | None = None  # last `now` seen in controlling
        self._injected = 0  # person: input handed to injection since the grant
        self._screen_unavailable = screen_unavailable
        if recording is not None and role != "person":
            raise ValueError("only the person's side records the screen")
        self.recording = recording

    # -- what a driver may ask ---------------------------------------------------

    @property
    def state(self) -> SessionState:
        """The fold of every event this engine recorded (`_apply`)."""
        return self._state

    @property
    def person(self) -> Actor:
        return Actor("person", self.me if self.role == "person" else self.peer)

    @property
    def helper(self) -> Actor:
        if self.role == "helper":
            return Actor("helper", self.me, self.key)
        return Actor("helper", self.peer, self.peer_key)

    @property
    def open_prompt(self) -> PromptKind | None:
        """The kind of the consent prompt the person is being asked, if any."""
        return None if self._prompt is None else self._prompt[0]

    def next_deadline(self) -> float | None:
        """The latest `now` by which the driver should call `tick` (None: no need)."""
        if self.state is S.DISCONNECTED:
            return None
        deadlines = []
        if self._last_heard is not None:
            deadlines.append(self._last_heard + self.peer_timeout_s)
        if self._next_heartbeat is not None:
            deadlines.append(self._next_heartbeat)
        if self._prompt is not None:
            deadlines.append(self._prompt[1] + self.consent_timeout_s)
        refusals = self._refused.due()
        if refusals is not None:
            deadlines.append(refusals)
        return min(deadlines) if deadlines else None

    @property
    def refused(self) -> int:
        """Every refused message so far (recorded or still being counted)."""
        return self._refused.total

    # -- inputs: the connection ----------------------------------------------------

    @_live
    def connected(
        self,
        peer: str,
        now: float,
        *,
        key: str = "",
        address: str = "",
        seen: Seen | None = None,
    ) -> list[Output]:
        """A helper's connection reached the person (or the helper reached the person).

        `peer` is the peer's name; on the person's side `key` is the helper's
        proven key fingerprint, `address` where it came from and `seen` what
        the person's log knew of them.
        """
        if self._connected or self.state is not S.CONNECTING:
            raise IllegalMove("cannot connect session: it is already connected")
        self.peer = peer.strip() or "unknown"
        self.peer_key = key
        self.peer_address = address
        self.peer_seen = seen or Seen()
        out: list[Output] = []
        self._record(out, "session.connected", {"peer": self.peer}, "helper")
        if self.role == "person":
            out.append(Show(f"{self.peer} is connecting; checking the invitation password"))
        else:
            out.append(Show(f"connected to {self.peer}; proving the invitation password"))
        return out

    @_live
    def authenticated(self, now: float) -> list[Output]:
        """The helper proved the invitation password; the channel is secure from here."""
        if not self._connected:
            raise IllegalMove("cannot authenticate session: it is not connected yet")
        out: list[Output] = []
        helper = self.helper
        who: dict[str, Any] = {"helper": helper.id}
        if helper.key:
            who["fingerprint"] = helper.key
        if self.role == "person" and self.peer_address:
            who["address"] = self.peer_address
        if self.recording is not None:
            who["recording"] = "screen" if self.recording else "off"
        self._record(out, "session.authenticated", who, "helper")
        self._last_heard = now
        self._next_heartbeat = now + self.heartbeat_s
        if self.role == "person" and self._screen_unavailable is not None:
            self._view_unavailable(out, self._screen_unavailable)
        elif self.role == "person":
            self._ask(out, "view", now)
        else:
            out.append(Show(f"password accepted; waiting for {self.peer} to allow viewing"))
        return out

    @_live
    def transport_lost(self, now: float) -> list[Output]:
        """The connection broke."""
        return self._end("system", "network", notify=False)

    @_live
    def invitation_ended(self, reason: str, now: float) -> list[Output]:
        """The invitation was revoked, expired, deleted or locked during the session."""
        return self._end("system", "invitation ended", notify=True, detail=reason)

    @_live
    def protocol_error(self, detail: str, now: float) -> list[Output]:
        """The peer broke the protocol below the messages (framing, encoding), or a
        message could not be handled: the session ends with reason ``error``."""
        return self._end("system", "error", notify=True, detail=detail)

    @_live
    def tick(self, now: float) -> list[Output]:
        """Time passed: prompt timeouts, peer silence, heartbeats, counted refusals."""
        self._saw(now)
        if self._last_heard is not None and now - self._last_heard >= self.peer_timeout_s:
            return self._end("system", "network", notify=True)
        out: list[Output] = []
        self._record_refusals(out, self._refused.flush(now))
        if self._prompt is not None and now - self._prompt[1] >= self.consent_timeout_s:
            self._answer(out, self._prompt[0], False, "timed out")
        # a view timeout ends the session and stops liveness: no heartbeat then
        if self._next_heartbeat is not None and now >= self._next_heartbeat:
            out.append(Send(msg.heartbeat()))
            self._next_heartbeat = now + self.heartbeat_s
        return out

    # -- inputs: the peer ----------------------------------------------------------

    @_live
    def received(self, message: Mapping[str, Any], now: float) -> list[Output]:
        """A message from the peer (already decrypted and decoded from JSON)."""
        self._saw(now)
        try:
            fact = msg.parse(message, self.peer_role)
        except msg.MessageError as exc:
            if self.state is S.CONNECTING:
                return []  # nothing from an unauthenticated peer is acted on
            return self._end("system", "error", notify=True, detail=str(exc))
        if self.state is S.CONNECTING:
            if isinstance(fact, msg.Input):
                return self._reject_input(fact.event, now)
            return []
        self._last_heard = now
        if isinstance(fact, msg.Heartbeat):
            return []
        if isinstance(fact, msg.Chat):
            if self._chats.add(now):  # each one is an event: a flood of them is one too
                return self._end("system", "flood", notify=True,
                                 detail=f"more than {self._chats.limit} chat messages within "
                                 f"{self._chats.window_s:g} s")
            out: list[Output] = []
            self._record(out, "chat.message", {"from": self.peer_role, "text": fact.text},
                         self.peer_role)
            out.append(Show(chat_line(self.peer_role, self.peer, fact.text)))
            return out
        if isinstance(fact, msg.Disconnect):  # recorded as the peer's side recorded it
            by = "system" if fact.reason in msg.SYSTEM_REASONS else self.peer_role
            return self._end(by, fact.reason, notify=False)
        if isinstance(fact, msg.Input):
            return self._input_from_helper(fact.event, now)
        if isinstance(fact, msg.ControlRequest):
            return self._control_requested_by_helper(now)
        if isinstance(fact, msg.ControlRelease):
            if fact.via not in HELPER_RELEASE_VIA:
                return self._end("system", "error", notify=True,
                                 detail=f"a release via {fact.via!r}")
            if not self._allows("control_released"):
                return []  # the person released at the same moment
            return self._release("helper", fact.via)
        if isinstance(fact, msg.ViewUnavailable):
            if self.state is S.CHAT_ONLY:
                return []  # already known
            if self.state is not S.CONTROLLING and not self._allows("view_unavailable"):
                return self._end("system", "error", notify=True,
                                 detail=f"view unavailable while {self.state.value}")
            out = []
            self._view_unavailable(out, fact.reason)
            return out
        if isinstance(fact, msg.ControlReleased):
            if fact.by != "person":
                return self._end("system", "error", notify=True,
                                 detail="a release by the helper reported by the person")
            if not self._allows("control_released"):
                return []  # the helper released at the same moment
            return self._release("person", fact.via)
        return self._consent_from_person(fact)

    # -- inputs: the local side ----------------------------------------------------

    @_live
    def consent_answered(self, kind: PromptKind, granted: bool, now: float) -> list[Output]:
        """The person answered the `kind` prompt."""
        self._require("person", "answer a consent prompt")
        if self._prompt is None or self._prompt[0] != kind:
            return [Show("that question is no longer open")]
        out: list[Output] = []
        self._answer(out, kind, granted, "declined")
        return out

    @_live
    def local_command(self, line: str, now: float) -> list[Output]:
        """A line typed in this side's terminal: a /command or a chat message."""
        text = line.strip()
        if not text:
            return []
        if not text.startswith("/"):
            return self._chat(text)
        command = text.split()[0].lower()
        if command == "/disconnect":
            return self._end(self.role, "user" if self.role == "person" else "helper",
                             notify=True)
        if command == "/release":
            if not self._allows("control_released"):
                who = "you are" if self.role == "helper" else f"{self.peer} is"
                return [Show(f"nothing to release: {who} not in control")]
            return self._release(self.role, "command")
        if command == "/control" and self.role == "helper":
            return self._ask_for_control()
        commands = "/control, /release, /disconnect" if self.role == "helper" else (
            "/release, /disconnect")
        return [Show(f"unknown command {command}; commands: {commands}; "
                     "anything else is sent as chat")]

    @_live
    def esc_pressed(self, now: float) -> list[Output]:
        """The person pressed Esc on their desktop: control comes back at once."""
        self._require("person", "take control back with Esc")
        if not self._allows("control_released"):
            return []
        return self._release("person", "esc")

    @_live
    def keymap_changed(self, now: float) -> list[Output]:
        """The person's keyboard mapping changed while the helper had control.

        A changed mapping could have moved Esc away, so control ends at once,
        released by the person's side ``via`` ``keymap-changed``.
        """
        self._require("person", "notice a keyboard mapping change")
        if not self._allows("control_released"):
            return []
        out = self._release("person", "keymap-changed")
        out.append(Show(f"the keyboard mapping changed while {self.peer} had control"))
        return out

    @_live
    def screen_lost(self, reason: str, now: float) -> list[Output]:
        """The person's display cannot be shown (any more): it failed, or was never there.

        Control, if held, is released first; the session goes on as chat only.
        """
        self._require("person", "lose the screen")
        if reason not in msg.VIEW_UNAVAILABLE_REASONS:
            raise ValueError(f"unknown reason {reason!r}")
        if self.state is S.CONNECTING:
            self._screen_unavailable = reason  # said once authenticated
            return []
        if self.state is S.CHAT_ONLY:
            return []
        out: list[Output] = []
        self._view_unavailable(out, reason)
        return out

    @_live
    def chat(self, text: str, now: float) -> list[Output]:
        """A chat message from a chat box (never read as a /command)."""
        if not text.strip():
            return []
        return self._chat(text.strip())

    def control_clicked(self, now: float) -> list[Output]:
        """The helper clicked Take Control (the same as typing /control)."""
        return self.local_command("/control", now)

    def disconnect_clicked(self, now: float) -> list[Output]:
        """A Disconnect button (the same as typing /disconnect)."""
        return self.local_command("/disconnect", now)

    def release_clicked(self, now: float, via: str = "button") -> list[Output]:
        """This side clicked a "release control" button (``via`` ``button``), or the
        helper pressed Esc in the viewer (``via`` ``esc``): recorded as what it was."""
        if via not in ("button", "esc") or (via == "esc" and self.role != "helper"):
            raise ValueError(f"a release from this side's window is not via {via!r}")
        if not self._allows("control_released"):
            return []
        return self._release(self.role, via)

    def recording_chunk(self, chunk: Mapping[str, Any], now: float) -> list[Output]:
        """Person: a chunk of the recorded screen is on disk (`ra.recording`); its
        ``recording.chunk`` event vouches for it (index, file, SHA-256, size, frames,
        time span). Taken in any state, after the end too: the chunk holds what was
        sent while the session ran, and its event comes before the receipt."""
        self._require("person", "record the screen")
        out: list[Output] = []
        self._record(out, "recording.chunk", dict(chunk), "system")
        return out

    @_live
    def input_refused(self, event: Mapping[str, Any], reason: str, now: float) -> list[Output]:
        """Person: the desktop did not inject `event` (it would have landed on the
        person's own window); it is recorded like any refused input."""
        self._require("person", "refuse input")
        if self.state is S.CONTROLLING and self._injected:
            self._injected -= 1  # handed to injection, counted, and not injected after all
        return self._reject_input(dict(event), now, reason)

    @_live
    def local_input(self, event: Mapping[str, Any], now: float) -> list[Output]:
        """The helper's viewer captured an input event; it is forwarded only in control.

        Outside control it is dropped here without a record: the person's side,
        which injects, is the one that records rejected input. The helper's Esc
        gives control back.
        """
        self._require("helper", "forward input")
        if self.state is not S.CONTROLLING:
            return []
        _, clean = msg.parse_input(event)
        if clean is None:
            return []
        if msg.is_escape(clean):
            return self._release("helper", "esc")
        return [Send(msg.input_event(clean))]

    # -- the moves -----------------------------------------------------------------

    def _record(
        self,
        out: list[Output],
        event_type: str,
        payload: dict[str, Any],
        by: str,
        outcome: Outcome = "success",
    ) -> None:
        """Judge the move the event states (or raise), apply the event, hand it out."""
        trigger = trigger_for(event_type, payload)
        if trigger is not None and self._judge(trigger) is S.DISCONNECTED:
            # the session's last event: no refusal may be left uncounted
            self._record_refusals(out, self._refused.drain())
        event = NewEvent(event_type, payload, self._actor(by), outcome)
        self._apply(event)
        out.append(Record(event))

    def _apply(self, event: NewEvent) -> None:
        """The one way the engine's state changes: the event it records, folded as
        `replay` folds it."""
        self._state = fold(self._state, event)
        if event.type == "session.connected":
            self._connected = True

    def _actor(self, by: str) -> Actor:
        if by == "person":
            return self.person
        if by == "helper":
            return self.helper
        return SYSTEM

    def _allows(self, trigger: str) -> bool:
        """Whether the table has a move for `trigger` from the engine's state."""
        return SessionMachine.permits(self._state, trigger)

    def _judge(self, trigger: str) -> SessionState:
        """Where `trigger` takes the engine by the table; `IllegalMove` if nowhere."""
        moved = next_state(self._state, trigger)
        if moved is None:
            raise IllegalMove(SessionMachine.refusal_from(self._state, trigger, self.label))
        return moved

    def _require(self, role: Role, what: str) -> None:
        if self.role != role:
            raise IllegalMove(f"only the {role}'s side can {what}")

    def _ask(self, out: list[Output], kind: PromptKind, now: float) -> None:
        """Person: record the question, tell the helper, then ask the person."""
        self._record(out, "consent.requested", {"scope": kind}, "helper")
        out.append(Send(msg.consent(kind, "requested")))
        out.append(Prompt(kind, prompt_text(kind, self.peer, self.consent_timeout_s,
                                            key=self.peer_key, address=self.peer_address,
                                            seen=self.peer_seen,
                                            recorded=kind == "view" and bool(self.recording)),
                          self.consent_timeout_s))
        self._prompt = (kind, now)

    def _view_unavailable(self, out: list[Output], reason: str) -> None:
        """The screen cannot be shown: release control (recorded), take the prompt down,
        record ``view.unavailable``; then (person) stop streaming and tell the helper."""
        state = self.state
        if state is S.CONTROLLING:
            self._record(out, "control.released", self._released("system", "view-unavailable"),
                         "system")
            if self.role == "person":
                out.append(DisableInput())
        if self._prompt is not None:
            out.append(Dismiss(self._prompt[0]))
            self._prompt = None
        self._record(out, "view.unavailable", {"reason": reason}, "system",
                     "success" if reason == "not shared" else "failure")
        if self.role == "person":
            if state in STREAMING:
                out.append(StopStreaming())
            out.append(Send(msg.view_unavailable(reason)))
            why = {"not shared": "you chose not to share it",
                   "no display": "there is no display to share",
                   "display failed": "the display cannot be captured"}[reason]
            out.append(Show(f"your screen cannot be shown ({why}): {self.peer} cannot see "
                            "it or control your computer. You can still chat",
                            "type a line to send it; /disconnect ends the session"))
        else:
            out.append(Show(f"{self.peer}'s screen cannot be shown ({reason}): you cannot "
                            "see it or take control. You can still chat: type a line to "
                            "send it; /disconnect leaves"))

    def _answer(self, out: list[Output], kind: PromptKind, granted: bool, reason: str) -> None:
        """Person: the prompt was answered (or timed out, which is a denial)."""
        self._prompt = None
        if granted:
            self._record(out, "consent.granted", {"scope": kind}, "person")
            if kind == "view":
                self._record(out, "view.started", {}, "system")
                out.append(Send(msg.consent(kind, "granted")))
                out.append(StartStreaming())
                out.append(Show(f"{self.peer} can now see your screen",
                                "type /disconnect to end the session"))
            else:
                self._record(out, "control.granted", {}, "person")
                out.append(EnableInput())
                out.append(Send(msg.consent(kind, "granted")))
                out.append(Show(f"{self.peer} now controls your mouse and keyboard; "
                                "press Esc to take control back"))
            return
        by = "person" if reason == "declined" else "system"
        self._record(out, "consent.denied", {"scope": kind, "reason": reason}, by, "denied")
        if kind == "control":
            self._record(out, "control.denied", {"reason": reason}, by, "denied")
        if reason == "timed out":
            out.append(Dismiss(kind))
        out.append(Send(msg.consent(kind, "denied", reason)))
        if kind == "view":
            self._stop_liveness()
            out.append(Show(f"{self.peer} may not see your screen ({reason}); "
                            "the session has ended"))
            out.append(Close(reason))
        else:
            out.append(Show(f"{self.peer} may not control your computer ({reason})"))

    def _consent_from_person(self, fact: msg.Message) -> list[Output]:
        """Helper: the person's side reports a consent question or answer."""
        assert isinstance(fact, msg.Consent)
        if (self.state is S.CHAT_ONLY and (fact.scope, fact.status) == ("control", "denied")
                and fact.reason == "screen unavailable"):
            out: list[Output] = []
            self._record(out, "control.denied", {"reason": fact.reason}, "system", "denied")
            out.append(Show(f"control is not available: {self.peer}'s screen is not shown"))
            return out
        # Chat only: no consent is asked, so the only answer there is the one above.
        if self.state is S.CHAT_ONLY or not self._allows(_reported(fact)):
            return self._end("system", "error", notify=True,
                             detail=f"consent {fact.status} for {fact.scope} while "
                             f"{self.state.value}")
        out = []
        person = self.peer
        if fact.status == "requested":
            self._record(out, "consent.requested", {"scope": fact.scope}, "helper")
            what = "see the screen" if fact.scope == "view" else "take control"
            out.append(Show(f"waiting for {person} to allow you to {what}"))
        elif fact.status == "granted":
            self._record(out, "consent.granted", {"scope": fact.scope}, "person")
            if fact.scope == "view":
                self._record(out, "view.started", {}, "system")
                out.append(Show(f"{person} lets you see the screen; type /control to ask "
                                "for the mouse and keyboard, /disconnect to leave"))
            else:
                self._record(out, "control.granted", {}, "person")
                out.append(Show(f"you now control {person}'s mouse and keyboard; "
                                f"{person} can take it back with Esc, /release gives it back"))
        else:
            by = "person" if fact.reason == "declined" else "system"
            self._record(out, "consent.denied", {"scope": fact.scope, "reason": fact.reason},
                         by, "denied")
            if fact.scope == "control":
                self._record(out, "control.denied", {"reason": fact.reason}, by, "denied")
                out.append(Show(f"{person} did not allow control ({fact.reason})"))
            else:
                self._stop_liveness()
                out.append(Show(f"{person} did not allow viewing ({fact.reason}); "
                                "the session has ended"))
                out.append(Close(fact.reason))
        return out

    def _ask_for_control(self) -> list[Output]:
        """Helper: /control."""
        if self._allows("control_requested"):
            out: list[Output] = []
            self._record(out, "control.requested", {}, "helper")
            out.append(Send(msg.control_request()))
            out.append(Show(f"asked {self.peer} for control; waiting for an answer"))
            return out
        if self.state in (S.CONTROL_REQUESTED, S.AWAITING_CONTROL_CONSENT):
            return [Show(f"you already asked; waiting for {self.peer} to answer")]
        if self.state is S.CONTROLLING:
            return [Show("you are already in control")]
        if self.state is S.CHAT_ONLY:
            return [Show(f"control is not available: {self.peer}'s screen is not shown in "
                         "this session; you can still chat")]
        return [Show(f"you can ask for control once {self.peer} lets you see the screen")]

    def _control_requested_by_helper(self, now: float) -> list[Output]:
        """Person: the helper asks for control; a duplicate or early ask is ignored,
        one with no screen to show is refused (recorded)."""
        if self.state is S.CHAT_ONLY:
            refused: list[Output] = []
            reason = "screen unavailable"
            self._record(refused, "control.denied", {"reason": reason}, "system", "denied")
            refused.append(Send(msg.consent("control", "denied", reason)))
            refused.append(Show(f"{self.peer} asked for control; refused: your screen is "
                                "not shown in this session"))
            return refused
        if not self._allows("control_requested"):
            return []
        out: list[Output] = []
        self._record(out, "control.requested", {}, "helper")
        self._ask(out, "control", now)
        return out

    def _release(self, by: Role, via: str) -> list[Output]:
        """Control ends: recorded first, then (person's side) input is revoked."""
        out: list[Output] = []
        self._record(out, "control.released", self._released(by, via), by)
        if self.role == "person":
            out.append(DisableInput())
        if by == self.role:
            out.append(Send(msg.control_released(by, via) if by == "person"
                            else msg.control_release(via)))
        if by == "person":
            text = ("you have control again" if self.role == "person"
                    else f"{self.peer} took control back")
        else:
            text = (f"{self.peer} gave control back" if self.role == "person"
                    else "you gave control back")
        out.append(Show(text))
        return out

    def _input_from_helper(self, event: dict[str, Any], now: float) -> list[Output]:
        """Person: inject only in controlling, never Escape; count every refusal."""
        if self.state is not S.CONTROLLING:
            return self._reject_input(event, now)
        if msg.is_escape(event):
            return self._reject_input(event, now, ESCAPE_REFUSED)
        self._injected += 1
        return [Inject(event)]

    def _released(self, by: str, via: str) -> dict[str, Any]:
        """The payload of ``control.released``. The person's side adds
        ``inputs_injected``: the input it handed to injection since the grant, less
        what the desktop then refused. The count lives here, not in the log (each
        injected input is not an event), so a release recorded after a crash
        (`ra.session.person`) cannot say it."""
        payload: dict[str, Any] = {"by": by, "via": via}
        if self.role == "person":
            payload["inputs_injected"] = self._injected
        self._injected = 0
        return payload

    def _reject_input(self, event: dict[str, Any], now: float,
                      reason: str = "not in control") -> list[Output]:
        """Count a refused input (recorded coalesced); too many end the session."""
        out: list[Output] = []
        counted = self._refused.note(now, kinds=str(event["kind"]), reasons=reason,
                                     states=self.state.value)
        self._record_refusals(out, counted)
        racing = (self._controlling_seen is not None
                  and now - self._controlling_seen < RACE_GRACE_S)
        if not racing and self._flood.add(now):
            out += self._end("system", "flood", notify=True,
                             detail=f"more than {self._flood.limit} refused messages within "
                             f"{self._flood.window_s:g} s")
        return out

    def _record_refusals(self, out: list[Output], counted: Counted | None) -> None:
        if counted is not None:
            self._record(out, "input.rejected", counted.payload(), "helper", "failure")

    def _saw(self, now: float) -> None:
        """Keep the last time the session was seen in controlling (for RACE_GRACE_S)."""
        if self.state is S.CONTROLLING:
            self._controlling_seen = now

    def _chat(self, text: str) -> list[Output]:
        if self.state is S.CONNECTING:
            return [Show("you can chat once the connection is set up")]
        if len(text) > msg.MAX_CHAT:
            return [Show(f"a chat message can hold at most {msg.MAX_CHAT} characters")]
        out: list[Output] = []
        self._record(out, "chat.message", {"from": self.role, "text": text}, self.role)
        out.append(Send(msg.chat(text)))
        return out

    def _end(self, by: str, reason: str, *, notify: bool, detail: str = "") -> list[Output]:
        """The session ends: release (recorded) and revoke first, then record the end,
        stop streaming, take any prompt down, tell the peer, close."""
        state = self.state
        out: list[Output] = []
        if state is S.CONTROLLING:
            self._record(out, "control.released", self._released(by, "disconnect"), by)
            if self.role == "person":
                out.append(DisableInput())
        payload: dict[str, Any] = {"by": by, "reason": reason}
        if reason == "invitation ended" and detail:
            payload["invitation"] = detail
        elif reason in ("error", "flood") and detail:
            payload["detail"] = detail[:MAX_DETAIL]
        outcome: Outcome = "failure" if reason in ("network", "error", "flood") else "success"
        self._record(out, "session.disconnected", payload, by, outcome)
        if self.role == "person" and state in STREAMING:
            out.append(StopStreaming())
        if self._prompt is not None:
            out.append(Dismiss(self._prompt[0]))
            self._prompt = None
        if notify:
            out.append(Send(msg.disconnect(reason)))
        self._stop_liveness()
        out.append(Show(self._end_text(by, reason, detail)))
        out.append(Close(reason))
        return out

    def _end_text(self, by: str, reason: str, detail: str) -> str:
        if reason == "network":
            return f"lost the connection to {self.peer}; the session has ended"
        if reason in ("error", "flood") and not detail:  # the peer's side saw it, not this one
            return (f"{self.peer}'s side ended the session: it could not accept what it "
                    "received from this side")
        if reason == "error":
            return (f"{self.peer} sent something ra does not understand "
                    f"({inert(detail, NAME_SHOWN)}); "
                    "the session has ended to be safe")
        if reason == "flood" and by == "system":
            return (f"{self.peer} kept sending what the session does not allow "
                    f"({inert(detail, NAME_SHOWN)}); "
                    "the session has ended to be safe")
        if reason == "invitation ended":
            why = f" ({detail})" if detail else ""
            return f"the invitation has ended{why}; so has the session"
        if by == self.role:
            return "you ended the session"
        return f"{self.peer} ended the session"

    def _stop_liveness(self) -> None:
        self._last_heard = None
        self._next_heartbeat = None


__all__ = [
    "CHAT_LIMIT",
    "CHAT_PREFIX",
    "CONSENT_TIMEOUT_S",
    "FLOOD_LIMIT",
    "FLOOD_WINDOW_S",
    "HEARTBEAT_S",
    "PEER_TIMEOUT_S",
    "RACE_GRACE_S",
    "RECORDED",
    "Seen",
    "SessionEngine",
    "chat_line",
    "prompt_text",
]
