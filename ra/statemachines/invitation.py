"""The invitation lifecycle.

    created ──send──► sent ──open──► opened ──accept──► accepted
       │                │              │                  │
       └────────────────┴──────────────┴──────────────────┴──► expired | revoked | locked
                                                                  │
    any state but deleted ──delete──► deleted (final) ◄────────────┘

- `send` records each delivery (file, email, code); sending again is a resend
  and leaves the state where it is once the invitation is out.
- `open`: a helper reached the person with this invitation; `accept`: the
  helper proved the password and a session began (again for each session).
- `fail_auth` records a wrong password and changes nothing; the fifth failure
  is followed by `lock`.
- expired, revoked and locked end the invitation: it can then only be deleted.
  deleted is final.
"""

from __future__ import annotations

from enum import Enum
from typing import Any

from ra.statemachines.base import TableMachine


class InvitationState(Enum):
    CREATED = "created"
    SENT = "sent"
    OPENED = "opened"
    ACCEPTED = "accepted"
    EXPIRED = "expired"
    REVOKED = "revoked"
    DELETED = "deleted"
    LOCKED = "locked"


S = InvitationState
LIVE = [S.CREATED, S.SENT, S.OPENED, S.ACCEPTED]
ENDED = frozenset({S.EXPIRED, S.REVOKED, S.DELETED, S.LOCKED})

TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "send", "source": S.CREATED, "dest": S.SENT},
    {"trigger": "send", "source": [S.SENT, S.OPENED, S.ACCEPTED], "dest": None},
    {"trigger": "open", "source": [S.CREATED, S.SENT], "dest": S.OPENED},
    {"trigger": "open", "source": [S.OPENED, S.ACCEPTED], "dest": None},
    {"trigger": "accept", "source": [S.OPENED, S.ACCEPTED], "dest": S.ACCEPTED},
    {"trigger": "fail_auth", "source": LIVE, "dest": None},
    {"trigger": "lock", "source": LIVE, "dest": S.LOCKED},
    {"trigger": "expire", "source": LIVE, "dest": S.EXPIRED},
    {"trigger": "revoke", "source": LIVE, "dest": S.REVOKED},
    {"trigger": "delete", "source": [*LIVE, S.EXPIRED, S.REVOKED, S.LOCKED], "dest": S.DELETED},
]


class InvitationMachine(TableMachine):
    """Decides the moves of one invitation, starting from its folded state."""

    STATES = InvitationState
    TRANSITIONS = TRANSITIONS
    NAME = "invitation"
    INITIAL = S.CREATED
