"""The sans-IO session engine: facts in, events to record and actions to take out.

See `ra.engine.session` for the theory of operation and docs/session.md for
the message vocabulary.
"""

from ra.engine.messages import MessageError, Role
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
from ra.engine.replay import fold, replay, trigger_for
from ra.engine.session import Seen, SessionEngine, prompt_text

__all__ = [
    "Close",
    "DisableInput",
    "Dismiss",
    "EnableInput",
    "Inject",
    "MessageError",
    "Output",
    "Prompt",
    "PromptKind",
    "Record",
    "Role",
    "Seen",
    "Send",
    "SessionEngine",
    "Show",
    "StartStreaming",
    "StopStreaming",
    "fold",
    "prompt_text",
    "replay",
    "trigger_for",
]
