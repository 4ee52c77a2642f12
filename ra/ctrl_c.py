"""Ctrl-C in the programs that run an asyncio loop (`ra ask`, `ra connect`, the replay).

Each of them ends its own way on Ctrl-C (a session is disconnected as with
``/disconnect``, a wait stops), never with a KeyboardInterrupt thrown into
whatever the loop was doing. `on_ctrl_c` makes SIGINT call a plain function
on the loop for as long as its block runs, and gives SIGINT back after. Where
the loop cannot take signals (not the main thread, or a platform without
them) it does nothing, and Ctrl-C keeps Python's default.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def on_ctrl_c(handler: Callable[[], None]) -> Iterator[None]:
    """Call `handler` (on the running loop) on each Ctrl-C while inside the block."""
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGINT, handler)
    try:
        yield
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGINT)


__all__ = ["on_ctrl_c"]
