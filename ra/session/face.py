"""What the person does in their window, as facts the driver hands the engine.

The terminal gives the driver typed lines (`SessionDriver` reads a line as
an answer, a /command or chat). A window gives it `Action` values instead:
a click on Yes or No, a chat message from the entry box, Stop control
(the button, or Esc pressed in the window), Disconnect (the button, or the
window closed). `engine_input` maps each to the one engine input that is
its meaning, so a click takes exactly the path of the same decision typed at
the terminal: the same events, in the same order, persisted before acting.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Sequence
from typing import Literal, Protocol

from ra.engine import Output, SessionEngine
from ra.engine.frozen import Frozen
from ra.engine.outputs import PromptKind


class Answer(Frozen):
    """The person answered the `kind` consent dialog."""

    kind: PromptKind
    granted: bool


class ChatEntered(Frozen):
    """The person sent `text` from the chat box (never read as a /command)."""

    text: str


class StopControl(Frozen):
    """The person took control back: with the button, or with Esc in the window."""

    via: Literal["button", "esc"]


class Disconnect(Frozen):
    """The person ended the session: with the button, or by closing the window."""

    closed_window: bool = False


Action = Answer | ChatEntered | StopControl | Disconnect


class Face(Protocol):
    """The person's (or helper's) side of the screen, as the driver calls it: the
    terminal (`ra.session.driver.Terminal`) or the person's window."""

    def show(self, text: str, typed: str = "") -> None:
        """Show a status line or a chat line (the peer's text in it is inert);
        `typed`: how to act on it by typing, for a face that reads typed lines."""

    def ask(self, text: str, grants: str = "") -> None:
        """Ask ra's consent question."""

    def close_question(self) -> None:
        """The question was answered or taken down."""

    def start_reading(
        self, loop: asyncio.AbstractEventLoop,
    ) -> asyncio.Queue[str | Action | None]:
        """Typed lines and actions, in order; None when there will be no more."""

    async def performed(self, outputs: Sequence[Output]) -> None:
        """The driver performed `outputs` (the engine's, in order): show what they mean."""


def _answer(engine: SessionEngine, action: Answer, now: float) -> list[Output]:
    return engine.consent_answered(action.kind, action.granted, now)


def _chat(engine: SessionEngine, action: ChatEntered, now: float) -> list[Output]:
    return engine.chat(action.text, now)


def _stop(engine: SessionEngine, action: StopControl, now: float) -> list[Output]:
    return engine.esc_pressed(now) if action.via == "esc" else engine.release_clicked(now)


def _disconnect(engine: SessionEngine, action: Disconnect, now: float) -> list[Output]:
    return engine.disconnect_clicked(now)


def engine_input(engine: SessionEngine, action: Action) -> functools.partial[list[Output]]:
    """The engine input an action means, with everything but ``now`` bound."""
    if isinstance(action, Answer):
        return functools.partial(_answer, engine, action)
    if isinstance(action, ChatEntered):
        return functools.partial(_chat, engine, action)
    if isinstance(action, StopControl):
        return functools.partial(_stop, engine, action)
    return functools.partial(_disconnect, engine, action)


__all__ = ["Action", "Answer", "ChatEntered", "Disconnect", "Face", "StopControl", "engine_input"]
