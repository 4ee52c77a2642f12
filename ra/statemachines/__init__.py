"""One small `transitions` machine per concern; each decides whether a move may happen.

Machines decide live moves. Replaying the log never builds a machine per
row: projections fold events into state, and a machine is built at that state
only when a new move has to be judged (or its table is asked directly,
`TableMachine.permits`, as the session engine does for the state it folds).
"""

from ra.statemachines.base import IllegalMove
from ra.statemachines.invitation import InvitationMachine, InvitationState
from ra.statemachines.session import SessionMachine, SessionState

__all__ = [
    "IllegalMove",
    "InvitationMachine",
    "InvitationState",
    "SessionMachine",
    "SessionState",
]
