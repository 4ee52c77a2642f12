"""The session lifecycle: viewing and control, each behind its own consent.

Theory of operation
-------------------
A session starts when a helper's connection reaches the person's machine
(``connecting``) and the helper proves the invitation password
(``authenticated``). The person is then asked whether the helper may see the
screen (``awaiting_view_consent``); a yes starts ``viewing``, a no or a
prompt left unanswered for 60 s ends the session. While viewing, the helper
may ask for control (``control_requested``); the person is asked again
(``awaiting_control_consent``). A yes hands over mouse and keyboard
(``controlling``); a no, or silence, goes back to ``viewing``. Control ends
with a release (Esc on the desktop, a command, a button), which leads to
``released``: it behaves like viewing, and the helper may ask again. Either
side, the network or the invitation ending can end the session from any
state; ``disconnected`` is final.

When the person's screen cannot be shown (the person chose not to share it,
there is no display, or the display fails, at the start or later), the
session goes to ``chat_only`` (``view_unavailable``): nothing is streamed, no
view or control consent is asked, and a control request is refused there
(``control_denied``, which stays in ``chat_only``). Chat and the endings go on
as in any other state. Control held when the screen goes is released first.

Triggers are past-tense facts, each recorded as one event before anything
acts on it (`ra.engine` maps events to triggers). Rules:

- No input is injected unless the state is ``controlling``.
- No frame is sent before ``viewing``; consent is never skipped.
- Every trigger not in the table is an illegal move (`IllegalMove`); there
  are no ``to_<state>()`` back doors.

::

    connecting ──authenticated──► authenticated ──view_consent_requested──►
    awaiting_view_consent ──view_consent_granted──► viewing
            └──view_consent_denied──► disconnected

    viewing | released ──control_requested──► control_requested
        ──control_consent_requested──► awaiting_control_consent
            ├──control_granted──► controlling ──control_released──► released
            └──control_denied───► viewing

    authenticated | awaiting_view_consent | viewing … released
        ──view_unavailable──► chat_only ──control_denied──► chat_only

    any state but disconnected ──disconnected──► disconnected (final)
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from ra.statemachines.base import TableMachine


class SessionState(Enum):
    CONNECTING = "connecting"
    AUTHENTICATED = "authenticated"
    AWAITING_VIEW_CONSENT = "awaiting_view_consent"
    VIEWING = "viewing"
    CONTROL_REQUESTED = "control_requested"
    AWAITING_CONTROL_CONSENT = "awaiting_control_consent"
    CONTROLLING = "controlling"
    RELEASED = "released"
    CHAT_ONLY = "chat_only"
    DISCONNECTED = "disconnected"


S = SessionState
FINAL = frozenset({S.DISCONNECTED})
LIVE = [state for state in SessionState if state not in FINAL]
#: The states in which the person's screen is being sent to the helper.
STREAMING = frozenset(
    {S.VIEWING, S.CONTROL_REQUESTED, S.AWAITING_CONTROL_CONSENT, S.CONTROLLING, S.RELEASED}
)
#: The states from which the screen can become unavailable (then: ``chat_only``).
SCREEN_POSSIBLE = [S.AUTHENTICATED, S.AWAITING_VIEW_CONSENT, S.VIEWING, S.CONTROL_REQUESTED,
                   S.AWAITING_CONTROL_CONSENT, S.RELEASED]

TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "authenticated", "source": S.CONNECTING, "dest": S.AUTHENTICATED},
    {"trigger": "view_consent_requested", "source": S.AUTHENTICATED,
     "dest": S.AWAITING_VIEW_CONSENT},
    {"trigger": "view_consent_granted", "source": S.AWAITING_VIEW_CONSENT, "dest": S.VIEWING},
    {"trigger": "view_consent_denied", "source": S.AWAITING_VIEW_CONSENT,
     "dest": S.DISCONNECTED},
    {"trigger": "control_requested", "source": [S.VIEWING, S.RELEASED],
     "dest": S.CONTROL_REQUESTED},
    {"trigger": "control_consent_requested", "source": S.CONTROL_REQUESTED,
     "dest": S.AWAITING_CONTROL_CONSENT},
    {"trigger": "control_granted", "source": S.AWAITING_CONTROL_CONSENT, "dest": S.CONTROLLING},
    {"trigger": "control_denied", "source": S.AWAITING_CONTROL_CONSENT, "dest": S.VIEWING},
    {"trigger": "control_released", "source": S.CONTROLLING, "dest": S.RELEASED},
    {"trigger": "view_unavailable", "source": SCREEN_POSSIBLE, "dest": S.CHAT_ONLY},
    {"trigger": "control_denied", "source": S.CHAT_ONLY, "dest": S.CHAT_ONLY},
    {"trigger": "disconnected", "source": LIVE, "dest": S.DISCONNECTED},
]

TRIGGERS: frozenset[str] = frozenset(row["trigger"] for row in TRANSITIONS)


class SessionMachine(TableMachine):
    """Decides the moves of one session, starting from its folded state."""

    STATES = SessionState
    TRANSITIONS = TRANSITIONS
    NAME = "session"
    INITIAL = S.CONNECTING

    @property
    def current(self) -> SessionState:
        """The state, typed (``self.state`` is whatever `transitions` stores)."""
        state = self.state
        assert isinstance(state, SessionState)
        return state


def next_state(state: SessionState, trigger: str) -> SessionState | None:
    """Where `trigger` takes `state` by the table, or None (`TableMachine.next_state`)."""
    moved = SessionMachine.next_state(state, trigger)
    assert moved is None or isinstance(moved, SessionState)
    return moved


__all__ = [
    "FINAL",
    "STREAMING",
    "TRANSITIONS",
    "TRIGGERS",
    "SessionMachine",
    "SessionState",
    "next_state",
]
