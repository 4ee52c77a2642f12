"""The sans-IO session engine: facts in, events to record and actions to take out.

See `ra.engine.session` for the theory of operation and docs/session.md for
the message vocabulary. The outputs (`ra.engine.outputs`) are re-exported as
that module lists them.
"""

from ra.engine import outputs
from ra.engine.messages import MessageError, Role
from ra.engine.outputs import *  # noqa: F403 - every name in outputs.__all__
from ra.engine.replay import fold, replay, trigger_for
from ra.engine.session import Seen, SessionEngine, prompt_text

__all__ = [
    "MessageError",
    "Role",
    "Seen",
    "SessionEngine",
    "fold",
    "prompt_text",
    "replay",
    "trigger_for",
]
__all__ += outputs.__all__
