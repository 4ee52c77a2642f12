"""What the session engine asks its driver to do: small frozen imperatives.

The driver performs a list of outputs in order. A `Record` must be appended
to the log before any output after it in the same list is performed: that is
how "persist, then act" holds (consent is written before `StartStreaming`, a
control grant before `EnableInput`, a release before anything else).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from ra.events.model import NewEvent

PromptKind = Literal["view", "control"]


@dataclass(frozen=True, slots=True)
class Record:
    """Append `event` to the session's stream, durably, before going on."""

    event: NewEvent


@dataclass(frozen=True, slots=True)
class Send:
    """Send `message` (a protocol message, see docs/session.md) to the peer."""

    message: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Prompt:
    """Ask the person a yes/no question in their terminal; answer with `consent_answered`."""

    kind: PromptKind
    text: str
    timeout_s: int


@dataclass(frozen=True, slots=True)
class Dismiss:
    """Take the open `kind` prompt off the terminal: it was answered for the person
    (timed out) or the session ended. A late answer is refused by the engine anyway."""

    kind: PromptKind


@dataclass(frozen=True, slots=True)
class StartStreaming:
    """Start sending the screen to the helper."""


@dataclass(frozen=True, slots=True)
class StopStreaming:
    """Stop sending the screen."""


@dataclass(frozen=True, slots=True)
class EnableInput:
    """Let the input adapter inject what `Inject` hands it."""


@dataclass(frozen=True, slots=True)
class DisableInput:
    """Revoke input at once: release held keys and buttons, inject nothing more."""


@dataclass(frozen=True, slots=True)
class Inject:
    """Inject one validated input event into the desktop (only ever in controlling)."""

    event: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Show:
    """Show a status line or a chat message; `typed` says how to act on it by typing
    (a terminal shows it after the line, a window has buttons for it instead)."""

    text: str
    typed: str = ""


@dataclass(frozen=True, slots=True)
class Close:
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
