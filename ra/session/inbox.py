"""What the two sides of the screen hand the session's driver, in order.

The driver (`ra.session.driver.SessionDriver`) is made last: the person's
desktop and screen recorder, and the helper's viewer, are made first and are
given an `Inbox`, never the driver, so nothing is wired after it is built.
The driver reads the inbox in one of its tasks and does what each item asks,
in the order put:

- `put`: an engine input (``lambda now: engine.esc_pressed(now)``), from any
  thread (the Esc watcher's, the capture's); it is fed like every other
  input, and dropped once the session is over.
- `chunk`: a recording chunk on disk (on the loop); it is recorded through
  the engine, after the session's end too, before the receipts are signed.
- `ask`: an engine input from the helper's viewer page, or a screen message
  of the helper's for the person (``screen.refresh``, ``screen.monitor``);
  it returns once the driver has done it, so a page that sends faster than
  the session goes is read no faster than that.
- `tell`: a screen message to send, without waiting (on the loop): the
  ``screen.ack`` of an update the helper's page has taken.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ra.engine import Output

Input = Callable[[float], list[Output]]
"""One engine input with everything but ``now`` bound: ``lambda now: engine.tick(now)``."""


@dataclass(frozen=True, slots=True)
class Feed:
    """Feed `call` to the engine; `by_viewer`: the helper's page asked for it."""

    call: Input
    by_viewer: bool = False
    done: asyncio.Future[None] | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Chunk:
    """Record this recording chunk (``recording.chunk``)."""

    payload: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ScreenMessage:
    """Send this screen message to the peer (only while the screen is streaming)."""

    message: dict[str, Any]
    done: asyncio.Future[None] | None = field(default=None, compare=False)


Item = Feed | Chunk | ScreenMessage


class Inbox:
    """The queue from the sides of the screen to the driver (made on the loop)."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._items: asyncio.Queue[Item] = asyncio.Queue()
        self._closed = False

    def put(self, call: Input) -> None:
        """Feed `call` soon; safe from any thread."""
        with contextlib.suppress(RuntimeError):  # the loop is closed: the session is over
            self._loop.call_soon_threadsafe(self._items.put_nowait, Feed(call))

    def chunk(self, payload: Mapping[str, Any]) -> None:
        """Record a chunk the recorder has written (call on the loop)."""
        self._items.put_nowait(Chunk(dict(payload)))

    def tell(self, message: Mapping[str, Any]) -> None:
        """Send this screen message soon (call on the loop)."""
        if not self._closed:
            self._items.put_nowait(ScreenMessage(dict(message)))

    async def ask(self, request: Input | dict[str, Any]) -> None:
        """The viewer's request: an engine input, or a screen message; back once done."""
        if self._closed:
            return
        done: asyncio.Future[None] = self._loop.create_future()
        self._items.put_nowait(ScreenMessage(request, done) if isinstance(request, dict)
                               else Feed(request, by_viewer=True, done=done))
        await done

    async def get(self) -> Item:
        return await self._items.get()

    def take_all(self) -> list[Item]:
        """Every item still waiting, taken out."""
        items = []
        while not self._items.empty():
            items.append(self._items.get_nowait())
        return items

    def close(self) -> None:
        """The driver has stopped: what still waits is dropped, and `ask` returns at once."""
        self._closed = True
        for item in self.take_all():
            finish(item)


def finish(item: Item) -> None:
    """Tell whoever asked for `item` that it is done (or dropped)."""
    if not isinstance(item, Chunk) and item.done is not None and not item.done.done():
        item.done.set_result(None)


__all__ = ["Chunk", "Feed", "Inbox", "Input", "Item", "ScreenMessage", "finish"]
