"""The person's window: what Remote Assistance shows the one who asked for help.

`PersonWindow` is a small tkinter window, the person's `Face` to the driver
in place of the terminal (`ra ask` opens it on a desktop; ``--terminal``, or
no display, keeps the terminal). It shows, in turn:

- Waiting: the open invitations, each with its name, to whom it was sent and
  the time left, and a Cancel button that expires it (the same event as
  ``ra invite expire``).
- The consent dialogs, one per question: who asks (the helper's name, key
  fingerprint when the handshake proved one, address), the engine's own
  question (what for, and the warning), and a countdown to the engine's
  time-out. They are raised above other windows and take the focus; the
  default button is No (Return and Escape answer No).
- While connected: a status line that says what the helper can do now, the
  chat (both sides, and ra's notices) with an entry box, "Stop control (Esc)"
  while the helper controls, and "Disconnect". While the helper controls,
  the window stays on top; closing it is a disconnect.

Theory of operation
-------------------
Tk must run on the main thread, and so does the session's asyncio loop:
`run` drives both, pumping Tk (``update``) every `POLL_S` while the session's
coroutine runs. Tk callbacks therefore run on the loop's thread, between two
engine inputs, and only put `ra.session.face` actions on the queue the driver
reads: the window never decides anything itself. What it shows comes from the
engine's outputs, after the driver performed them (`performed`): the events
recorded (a status follows the log, a chat line is shown once it is
recorded), the prompts, the time-outs and the close.

The helper must never operate this window: every tick it publishes where it
is (the main window and any dialog) and whether it has the focus to its
`WindowGuard`, which the injector consults before each event
(`ra.desktop.guard`). Everything the peer wrote is shown inert.

For tests and the demo the window can describe itself: with `state_file`
set, every change of what it shows (texts, which buttons are there and
enabled, where they are on the screen) is written there as JSON (0600).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import math
import os
import time
import tkinter as tk
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

from ra.desktop.guard import Rect, WindowGuard
from ra.engine import Close, DisableInput, EnableInput, Output, Prompt, Record
from ra.engine.outputs import PromptKind
from ra.engine.session import CHAT_PREFIX, WARNING
from ra.errors import RaError
from ra.inert import inert
from ra.invitations.service import InvitationView
from ra.session.face import Action, Answer, ChatEntered, Disconnect, StopControl

T = TypeVar("T")

TITLE = "Remote Assistance"
#: How often Tk is pumped, in seconds.
POLL_S = 0.02
#: How often the waiting list is read again, and the window raised while controlled.
REFRESH_S = 0.5
NAME_SHOWN = 80
#: Room left between the window and the screen's bottom right corner (x, y).
CORNER = (20, 120)
LINE_SHOWN = 2000
#: Environment variable: where the window writes its state (tests, the demo).
STATE_ENV = "RA_WINDOW_STATE"
QUESTION = {
    "view": "{name} asks to see your screen",
    "control": "{name} asks to control your mouse and keyboard",
}
ALLOW = {"view": "Yes, let them see", "control": "Yes, let them control"}


class WindowUnavailable(RaError):
    """The window cannot open here (no display, or no Tk): ra uses the terminal."""


@dataclass
class Invitation:
    """One open invitation as the waiting list shows it."""

    id: str
    name: str
    sent_to: str
    expires_at: datetime | None


def _fingerprint(key: str) -> str:
    compact = "".join(ch for ch in key.lower() if ch in "0123456789abcdef")
    return " ".join(compact[i:i + 4] for i in range(0, len(compact), 4))


class PersonWindow:
    """The person's window; see the module's docstring."""

    def __init__(
        self,
        display: str | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        state_file: Path | None = None,
    ) -> None:
        try:
            self.root = tk.Tk(screenName=display, className="ra")
        except tk.TclError as exc:
            raise WindowUnavailable(f"cannot open a window: {exc}") from None
        self.guard = WindowGuard()
        self._clock = clock
        self._state_file = state_file
        self._last_state = ""
        self._queue: asyncio.Queue[str | Action | None] = asyncio.Queue()
        self._task: asyncio.Task[Any] | None = None
        self._mode = "waiting"  # waiting, session, ended
        self._helper = "your helper"
        self._key = ""
        self._address = ""
        self._controlling = False
        self._dialog: _Dialog | None = None
        self._lines: list[str] = []
        self._invitations: Callable[[], list[Invitation]] | None = None
        self._cancel: Callable[[str], object] | None = None
        self._listening: list[str] = []
        self._rows: dict[str, tuple[tk.Label, tk.Button]] = {}
        self._next_refresh = 0.0
        self._build()

    # -- the layout ------------------------------------------------------------------

    def _build(self) -> None:
        root = self.root
        root.title(TITLE)
        root.protocol("WM_DELETE_WINDOW", self._closed)
        root.resizable(False, False)
        self.status = tk.Label(root, text="Waiting for your helper", font=("TkDefaultFont", 12,
                               "bold"), anchor="w", justify="left", wraplength=460)
        self.status.pack(fill="x", padx=10, pady=(10, 4))

        self.waiting = tk.Frame(root)
        self.listening = tk.Label(self.waiting, text="", anchor="w", justify="left")
        self.listening.pack(fill="x")
        self.rows = tk.Frame(self.waiting)
        self.rows.pack(fill="x", pady=4)
        self.waiting.pack(fill="x", padx=10)

        self.session = tk.Frame(root)
        self.log = tk.Text(self.session, width=60, height=12, wrap="word", state="disabled",
                           takefocus=False)
        self.log.tag_configure("notice", foreground="#555555")
        self.log.tag_configure("me", foreground="#1a4d8f")
        self.log.pack(fill="both", expand=True)
        entry_row = tk.Frame(self.session)
        self.entry = tk.Entry(entry_row)
        self.entry.bind("<Return>", lambda _event: self._send_chat())
        self.entry.pack(side="left", fill="x", expand=True)
        self.send = tk.Button(entry_row, text="Send", command=self._send_chat)
        self.send.pack(side="left", padx=(4, 0))
        entry_row.pack(fill="x", pady=4)
        buttons = tk.Frame(self.session)
        self.stop = tk.Button(buttons, text="Stop control (Esc)", command=self._stop_control)
        self.disconnect = tk.Button(buttons, text="Disconnect", command=self._disconnect)
        self.disconnect.pack(side="right")
        buttons.pack(fill="x", pady=(0, 10))
        root.bind_all("<Escape>", self._escape, add="+")
        self._set_session_enabled(False)
        # in the bottom right corner (it grows up and left), out of the way of the work
        root.geometry(f"-{CORNER[0]}-{CORNER[1]}")

    # -- the Face the driver calls ----------------------------------------------------

    def show(self, text: str, typed: str = "") -> None:
        """A status line from the engine or the driver (chat lines come from the log);
        what to type is left out: the window's buttons do it."""
        if text.startswith(CHAT_PREFIX):
            return  # shown from its chat.message event, with who wrote it
        self._append(f"— {inert(text, LINE_SHOWN)}", "notice")

    def ask(self, text: str, grants: str = "") -> None:
        """The dialog opens from the `Prompt` itself (it says which question)."""

    def close_question(self) -> None:
        if self._dialog is not None:
            self._dialog.destroy()
            self._dialog = None

    def start_reading(
        self, loop: asyncio.AbstractEventLoop,
    ) -> asyncio.Queue[str | Action | None]:
        return self._queue

    async def performed(self, outputs: Sequence[Output]) -> None:
        """The driver performed `outputs` (the engine's, in order): show what they mean."""
        for out in outputs:
            if isinstance(out, Record):
                self._recorded(out.event.type, out.event.payload, out.event.actor)
            elif isinstance(out, Prompt):
                self._open_dialog(out.kind, out.text, out.timeout_s)
            elif isinstance(out, EnableInput):
                self._set_controlling(True)
            elif isinstance(out, DisableInput):
                self._set_controlling(False)
            elif isinstance(out, Close):
                self._mode = "ended"
                self.close_question()
                self._set_controlling(False)
                self._set_session_enabled(False)
                self.status.configure(text="The session has ended")
        self._tick()

    # -- what ra ask tells it -----------------------------------------------------------

    def listening_on(self, address: str) -> None:
        self._listening.append(address)
        self.listening.configure(text="Listening on " + ", ".join(self._listening))

    def waiting_on(self, invitations: Callable[[], list[InvitationView]],
                   cancel: Callable[[str], object]) -> None:
        """Show these invitations while waiting; Cancel one with `cancel` (its id)."""
        self._invitations = lambda: [invitation_of(view) for view in invitations()]
        self._cancel = cancel
        self._refresh_invitations()

    def session_started(self, address: str) -> None:
        """A helper authenticated from `address`: the session's view replaces the list."""
        self._address = address
        self._mode = "session"
        self.waiting.pack_forget()
        self.session.pack(fill="both", expand=True, padx=10)
        self._set_session_enabled(True)
        self.status.configure(text=f"Someone connected from {inert(address, NAME_SHOWN)}")

    # -- the loop ----------------------------------------------------------------------

    async def run(self, main: Coroutine[Any, Any, T]) -> T | None:
        """Run `main` (``ask_async``) with the window pumped beside it; close it after.

        None if the window stopped it (closed, or its last invitation cancelled,
        while waiting).
        """
        task = asyncio.get_running_loop().create_task(main)
        self._task = task
        alive = True
        try:
            while not task.done():
                if alive:
                    self._tick()
                    try:
                        self.root.update()
                    except tk.TclError:  # the window is gone: end as if closed
                        alive = False
                        self._closed()
                await asyncio.wait({task}, timeout=POLL_S)
            return None if task.cancelled() else task.result()
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            self.close()

    def close(self) -> None:
        with contextlib.suppress(tk.TclError):
            self.root.destroy()

    def _tick(self) -> None:
        now = self._clock()
        if self._dialog is not None:
            self._dialog.count_down(now)
        if now >= self._next_refresh:
            self._next_refresh = now + REFRESH_S
            if self._mode == "waiting":
                self._refresh_invitations()
            if self._controlling:
                self._raise(self.root)
                if self._dialog is not None:
                    self._raise(self._dialog.top)
        with contextlib.suppress(tk.TclError):
            self.root.update_idletasks()
            self._publish()
            self._write_state()

    # -- actions -------------------------------------------------------------------------

    def _act(self, action: Action) -> None:
        if self._mode == "session":
            self._queue.put_nowait(action)

    def _answer(self, kind: PromptKind, granted: bool) -> None:
        self.close_question()
        self._act(Answer(kind, granted))

    def _send_chat(self) -> None:
        text = self.entry.get()
        if text.strip() and self._mode == "session":
            self.entry.delete(0, "end")
            self._act(ChatEntered(text))

    def _stop_control(self) -> None:
        if self._controlling:
            self._act(StopControl("button"))

    def _escape(self, event: object) -> None:
        if self._controlling:
            self._act(StopControl("esc"))

    def _disconnect(self) -> None:
        self._act(Disconnect())

    def _closed(self) -> None:
        """The window's close button: a disconnect in a session, else stop waiting."""
        if self._mode == "session":
            self._act(Disconnect(closed_window=True))
        elif self._mode == "waiting" and self._task is not None:
            self._task.cancel()

    def _cancel_invitation(self, inv_id: str) -> None:
        if self._cancel is None:
            return
        try:
            self._cancel(inv_id)
        except RaError as exc:
            self.status.configure(text=inert(str(exc), LINE_SHOWN))
        self._refresh_invitations()
        if not self._rows and self._mode == "waiting" and self._task is not None:
            self.status.configure(text="No invitation is open any more")
            self._task.cancel()

    # -- what it shows -----------------------------------------------------------------

    def _recorded(self, event_type: str, payload: Any, actor: Any) -> None:
        scope = payload.get("scope")
        if actor.kind == "helper" and event_type in ("session.connected", "consent.requested"):
            self._helper = inert(actor.id, NAME_SHOWN)
            self._key = str(getattr(actor, "key", "") or "")
        name = self._helper
        text = {
            "session.authenticated": f"{name} is connected",
            "consent.requested": QUESTION.get(str(scope), "").format(name=name),
            "view.started": f"{name} can see your screen",
            "control.granted": (f"{name} controls your mouse and keyboard — "
                                "press Esc to take it back"),
            "control.released": f"{name} can see your screen",
            "control.denied": f"{name} can see your screen",
            "session.disconnected": "The session has ended",
        }.get(event_type)
        if event_type == "consent.denied" and scope == "view":
            text = f"{name} may not see your screen"
        if text:
            self.status.configure(text=text)
        if event_type == "chat.message":
            mine = payload.get("from") == "person"
            who = "You" if mine else name
            self._append(f"{who}: {inert(str(payload.get('text', '')), LINE_SHOWN)}",
                         "me" if mine else "")

    def _append(self, line: str, tag: str) -> None:
        self._lines.append(line)
        with contextlib.suppress(tk.TclError):
            self.log.configure(state="normal")
            self.log.insert("end", line + "\n", tag or ())
            self.log.see("end")
            self.log.configure(state="disabled")

    def _set_session_enabled(self, enabled: bool) -> None:
        state: Literal["normal", "disabled"] = "normal" if enabled else "disabled"
        self.entry.configure(state=state)
        self.send.configure(state=state)
        self.disconnect.configure(state=state)

    def _set_controlling(self, controlling: bool) -> None:
        self._controlling = controlling
        with contextlib.suppress(tk.TclError):
            if controlling:
                self.stop.pack(side="left")
                self.root.attributes("-topmost", True)
                self._raise(self.root)
            else:
                self.stop.pack_forget()
                self.root.attributes("-topmost", False)

    def _raise(self, top: tk.Misc) -> None:
        with contextlib.suppress(tk.TclError):
            top.lift()

    def _refresh_invitations(self) -> None:
        if self._invitations is None:
            return
        try:
            shown = self._invitations()
        except RaError:
            return
        now = datetime.now(UTC)
        seen = set()
        for invitation in shown:
            seen.add(invitation.id)
            row = self._rows.get(invitation.id)
            if row is None:
                frame = tk.Frame(self.rows)
                label = tk.Label(frame, anchor="w", justify="left")
                label.pack(side="left", fill="x", expand=True)
                button = tk.Button(frame, text="Cancel",
                                   command=functools.partial(self._cancel_invitation,
                                                             invitation.id))
                button.pack(side="right")
                frame.pack(fill="x", pady=2)
                row = self._rows[invitation.id] = (label, button)
            left = ("" if invitation.expires_at is None
                    else _left(invitation.expires_at - now))
            to = f" sent to {inert(invitation.sent_to, NAME_SHOWN)}" if invitation.sent_to else ""
            row[0].configure(text=f"Invitation {invitation.id[:8]} for "
                                  f"{inert(invitation.name, NAME_SHOWN)}{to}: {left}")
        for inv_id in [i for i in self._rows if i not in seen]:
            label, _ = self._rows.pop(inv_id)
            label.master.destroy()

    def _open_dialog(self, kind: PromptKind, text: str, timeout_s: int) -> None:
        self.close_question()
        self._dialog = _Dialog(self, kind, text, self._clock() + timeout_s)
        self.guard.set_focused(True)  # before the first event the helper could send
        self._publish()

    # -- the guard and the state ---------------------------------------------------------

    def _publish(self) -> None:
        tops: list[tk.Misc] = [self.root]
        if self._dialog is not None:
            tops.append(self._dialog.top)
        rects = [_rect(top) for top in tops if top.winfo_viewable()]
        focused = self.root.focus_get() is not None if self._dialog is None else True
        self.guard.publish(rects, focused)

    def state(self) -> dict[str, Any]:
        """What the window shows now (for tests and the demo)."""
        dialog = self._dialog
        return {
            "title": self.root.title(),
            "mode": self._mode,
            "status": self.status.cget("text"),
            "window": _box(self.root),
            "on_top": self._controlling,  # asked of the WM, and raised every REFRESH_S
            "focused": self.guard.focused,
            "invitations": [{"text": label.cget("text"), "cancel": _button(button)}
                            for label, button in self._rows.values()],
            "log": list(self._lines),
            "entry": self.entry.get(),
            "entry_box": _button(self.entry),
            "buttons": {"send": _button(self.send), "stop": _button(self.stop),
                        "disconnect": _button(self.disconnect)},
            "dialog": None if dialog is None else dialog.state(),
        }

    def _write_state(self) -> None:
        if self._state_file is None:
            return
        text = json.dumps(self.state(), sort_keys=True)
        if text == self._last_state:
            return
        self._last_state = text
        partial = self._state_file.with_name(self._state_file.name + ".part")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(partial, self._state_file)


class _Dialog:
    """One consent question, in its own window above the others."""

    def __init__(self, window: PersonWindow, kind: PromptKind, text: str,
                 deadline: float) -> None:
        self.kind = kind
        self.deadline = deadline
        self.top = top = tk.Toplevel(window.root)
        self.heading = QUESTION[kind].format(name=window._helper)
        top.title(f"{TITLE}: {self.heading}")
        top.protocol("WM_DELETE_WINDOW", lambda: window._answer(kind, False))
        top.resizable(False, False)
        tk.Label(top, text=self.heading, font=("TkDefaultFont", 13, "bold"),
                 wraplength=460, justify="left").pack(anchor="w", padx=12, pady=(12, 6))
        self.who = {
            "Helper": window._helper,
            "Key": _fingerprint(window._key) if window._key else "not proven",
            "Address": inert(window._address, NAME_SHOWN) or "unknown",
        }
        grid = tk.Frame(top)
        for row, (label, value) in enumerate(self.who.items()):
            tk.Label(grid, text=label + ":", anchor="e").grid(row=row, column=0, sticky="e")
            tk.Label(grid, text=value, anchor="w", font=("TkFixedFont", 10)).grid(
                row=row, column=1, sticky="w", padx=(6, 0))
        grid.pack(anchor="w", padx=12)
        self.text = inert(text, LINE_SHOWN)
        tk.Label(top, text=self.text, wraplength=460, justify="left").pack(
            anchor="w", padx=12, pady=6)
        tk.Label(top, text=WARNING, fg="#a00000", font=("TkDefaultFont", 11, "bold"),
                 wraplength=460, justify="left").pack(anchor="w", padx=12)
        self.countdown = tk.Label(top, text="", anchor="w")
        self.countdown.pack(anchor="w", padx=12, pady=6)
        buttons = tk.Frame(top)
        self.no = tk.Button(buttons, text="No", default="active", width=10,
                            command=lambda: window._answer(kind, False))
        self.yes = tk.Button(buttons, text=ALLOW[kind],
                             command=lambda: window._answer(kind, True))
        self.no.pack(side="right", padx=(6, 0))
        self.yes.pack(side="right")
        buttons.pack(fill="x", padx=12, pady=(0, 12))
        def on_return(event: tk.Event[tk.Misc]) -> None:
            if isinstance(event.widget, tk.Button):
                event.widget.invoke()  # the focused button, No unless tabbed away
            else:
                window._answer(kind, False)

        top.bind("<Return>", on_return)
        top.bind("<Escape>", lambda _event: window._answer(kind, False))
        self.count_down(window._clock())
        top.update_idletasks()
        width, height = top.winfo_reqwidth(), top.winfo_reqheight()
        x = max(0, (top.winfo_screenwidth() - width) // 2)
        y = max(0, (top.winfo_screenheight() - height) // 3)
        top.geometry(f"+{x}+{y}")
        with contextlib.suppress(tk.TclError):
            top.attributes("-topmost", True)
        top.lift()
        top.focus_force()
        self.no.focus_set()

    def count_down(self, now: float) -> None:
        left = max(0, math.ceil(self.deadline - now))
        self.countdown.configure(text=f"No answer in {left} s means No.")

    def state(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "title": self.top.title(),
            "heading": self.heading,
            "who": dict(self.who),
            "text": self.text,
            "warning": WARNING,
            "countdown": self.countdown.cget("text"),
            "default": "no" if str(self.no.cget("default")) == "active" else "yes",
            "focus": ("no" if self.top.focus_get() is self.no
                      else "yes" if self.top.focus_get() is self.yes else ""),
            "window": _box(self.top),
            "buttons": {"yes": _button(self.yes), "no": _button(self.no)},
        }

    def destroy(self) -> None:
        with contextlib.suppress(tk.TclError):
            self.top.destroy()


def _left(delta: Any) -> str:
    seconds = max(0, int(delta.total_seconds()))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60} min left"
    if seconds >= 60:
        return f"{seconds // 60} min left"
    return f"{seconds} s left"


def _rect(widget: tk.Misc) -> Rect:
    return Rect(widget.winfo_rootx(), widget.winfo_rooty(), widget.winfo_width(),
                widget.winfo_height())


def _box(widget: tk.Misc) -> dict[str, int]:
    return {"x": widget.winfo_rootx(), "y": widget.winfo_rooty(),
            "width": widget.winfo_width(), "height": widget.winfo_height()}


def _button(button: tk.Button | tk.Entry) -> dict[str, Any]:
    shown = bool(button.winfo_ismapped())
    return {"text": button.cget("text"), "shown": shown,
            "enabled": str(button.cget("state")) != "disabled",
            **(_box(button) if shown else {})}


def invitation_of(view: InvitationView) -> Invitation:
    """What the waiting list shows of an `InvitationView`."""
    sent_to = ", ".join(str(sent.get("to", "")) for sent in view.sent if sent.get("to"))
    return Invitation(view.id, view.name, sent_to, view.expires_at)


__all__ = ["STATE_ENV", "TITLE", "Invitation", "PersonWindow", "WindowUnavailable",
           "invitation_of"]
