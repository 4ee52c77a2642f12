"""What the session engine asks its driver to do: small frozen imperatives.

The driver performs a list of outputs in order. A `Record` must be appended
to the log before any output after it in the same list is performed: that is
how "persist, then act" holds (consent is written before `StartStreaming`, a
control grant before `EnableInput`, a release before anything else).
"""

from __future__ import annotations

from typing import Any, Literal

from ra.engine.frozen import Frozen
from ra.events.model import NewEvent

PromptKind = Literal["view", "control"]


class Record(Frozen):
    """Append `event` to the session's stream, durably, before going on."""

    event: NewEvent


class Send(Frozen):
    """Send `message` (a protocol message, see docs/session.md) to the peer."""

    message: dict[str, Any]


class Prompt(Frozen):
    """Ask the person a yes/no question in their terminal; answer with `consent_answered`."""

    kind: PromptKind
    text: str
    timeout_s: int


class Dismiss(Frozen):
    """Take the open `kind` prompt off the terminal: it was answered for the person
    (timed out) or the session ended. A late answer is refused by the engine anyway."""

    kind: PromptKind


class StartStreaming(Frozen):
    """Start sending the screen to the helper."""


class StopStreaming(Frozen):
    """Stop sending the screen."""


class EnableInput(Frozen):
    """Let the input adapter inject what `Inject` hands it."""


class DisableInput(Frozen):
    """Revoke input at once: release held keys and buttons, inject nothing more."""


class Inject(Frozen):
    """Inject one validated input event into the desktop (only ever in controlling)."""

    event: dict[str, Any]


class Show(Frozen):
    """Show a status line or a chat message; `typed` says how to act on it by typing
    (a terminal shows it after the line, a window has buttons for it instead)."""

    text: str
    typed: str = ""


class Close(Frozen):
    """Close the connection and end the local session; `reason` says why."""

    reason: str


Output = (
    Record | Send | Prompt | Dismiss | StartStreaming | StopStreaming | EnableInput
    | DisableInput | Inject | Show | Close
)

__all__ = [
    "Close",
    "DisableInput",
    "Dismiss",
    "EnableInput",
    "Inject",
    "Output",
    "Prompt",
    "PromptKind",
    "Record",
    "Send",
    "Show",
    "StartStreaming",
    "StopStreaming",
]
