"""The screen's acknowledgements between the two drivers, over real TLS on loopback:
the helper's says whether its page was given an update to paint (``superseded``
when not), once the page has taken it, and the person's hands exactly that to its
desktop's pacer.

A real `SessionDriver` on one side, a raw peer on the other (`test_net_handshake.Person`
serves the person's side). The person's desktop keeps the acks it is handed; the
helper's viewer keeps the `taken` callback of each update, to call when the test says.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
from support import expect_message
from test_net_handshake import HELPER, PASSWORD, Person

from ra.desktop.codec import TileEncoder
from ra.engine import Output, SessionEngine
from ra.events import EventStore
from ra.home import Home
from ra.identity import load_identity
from ra.net import Channel, Kind, connect
from ra.session.driver import SessionDriver, StatusDesktop, Terminal
from ra.session.inbox import Inbox

T = 10.0


class AckedDesktop(StatusDesktop):
    """The person's desktop, as far as acks go: it keeps them."""

    def __init__(self) -> None:
        super().__init__(Terminal(out=io.StringIO(), inp=io.StringIO()))
        self.acks: list[tuple[int, bool]] = []

    def on_ack(self, seq: int, shown: bool) -> None:
        self.acks.append((seq, shown))


class HeldViewer:
    """The helper's viewer: keeps each update's `taken`, for the test to call."""

    def __init__(self) -> None:
        self.taken: list[Callable[[bool], None]] = []

    async def show_screen(self, update: bytes, taken: Callable[[bool], None]) -> None:
        self.taken.append(taken)

    async def show_monitors(self, message: dict[str, Any]) -> None: ...

    async def performed(self, outputs: Any, by_viewer: bool) -> None: ...


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(T):
        while not condition():
            await asyncio.sleep(0.01)


def _session(tmp_path: Path, person: Callable[[Channel], Awaitable[None]],
             helper: Callable[[Channel], Awaitable[None]]) -> None:
    """`person` on the person's side of a real TLS session, `helper` on the helper's."""
    identity = load_identity(Home.at(tmp_path / "person"))

    async def on_person(channel: Channel, _invitation_id: str, _origin: str) -> None:
        await person(channel)

    async def scenario() -> None:
        async with Person(identity, session=on_person) as side:
            await helper(await connect(side.invite(), PASSWORD, HELPER))
            await asyncio.wait_for(side.seen.done.wait(), T)
            assert side.seen.errors == []

    asyncio.run(asyncio.wait_for(scenario(), 60))


def test_the_persons_driver_hands_its_pacer_whether_the_helper_painted_each_update(
        tmp_path: Path) -> None:
    desktop = AckedDesktop()
    store_home = Home.at(tmp_path / "log")

    async def person(channel: Channel) -> None:
        engine = SessionEngine("person", "alice")
        with EventStore.open(store_home) as store:
            driver = SessionDriver(engine, channel, store, channel.session_id,
                                   Terminal(out=io.StringIO(), inp=io.StringIO()), desktop)
            runner = asyncio.create_task(driver.run(
                [lambda now: engine.connected("helper", now), engine.authenticated]))
            await _until(lambda: len(desktop.acks) == 4)
            driver.disconnect_soon()
            await asyncio.wait_for(runner, T)

    async def helper(channel: Channel) -> None:
        await expect_message(channel, "consent", scope="view", status="requested")
        for ack in ({"type": "screen.ack", "seq": 5, "superseded": True},
                    {"type": "screen.ack", "seq": 6},
                    {"type": "screen.ack", "seq": 7, "superseded": "yes"},
                    {"type": "screen.ack", "seq": 8, "superseded": False}):
            await channel.send_json(ack)
        await expect_message(channel, "disconnect")
        await channel.close()

    _session(tmp_path, person, helper)
    # Only a literal true says an update went unpainted; anything else is a plain ack.
    assert desktop.acks == [(5, False), (6, True), (7, True), (8, True)]


def test_the_helpers_driver_acks_once_its_page_has_taken_an_update_and_says_if_unseen(
        tmp_path: Path) -> None:
    viewer = HeldViewer()
    acks: list[dict[str, Any]] = []
    encoder = TileEncoder(64, 64, browser_safe=True)
    updates = [encoder.encode(np.full((64, 64, 4), value, dtype=np.uint8)).to_bytes()
               for value in (10, 20)]

    async def person(channel: Channel) -> None:
        await channel.send_json({"type": "consent", "scope": "view", "status": "requested"})
        await channel.send_json({"type": "consent", "scope": "view", "status": "granted"})
        for update in updates:
            await channel.send_frame(Kind.SCREEN, update)
        await _until(lambda: len(viewer.taken) == 2)
        try:  # nothing is acknowledged before the page takes it
            acks.append({"early": await expect_message(channel, "screen.ack", timeout=0.3)})
        except TimeoutError:
            pass
        viewer.taken[0](False)
        viewer.taken[1](True)
        acks.append(await expect_message(channel, "screen.ack"))
        acks.append(await expect_message(channel, "screen.ack"))
        await channel.send_json({"type": "disconnect", "reason": "done"})
        await channel.close()

    async def helper(channel: Channel) -> None:
        engine = SessionEngine("helper", "bob")
        with EventStore.open(Home.at(tmp_path / "helper")) as store:
            driver = SessionDriver(engine, channel, store, channel.session_id,
                                   Terminal(out=io.StringIO(), inp=io.StringIO()),
                                   viewer=viewer, inbox=Inbox())

            def connected(now: float) -> list[Output]:
                return engine.connected("alice", now)

            await asyncio.wait_for(driver.run([connected, engine.authenticated]), T)

    _session(tmp_path, person, helper)
    assert acks == [{"type": "screen.ack", "seq": 1, "superseded": True},
                    {"type": "screen.ack", "seq": 2}]
