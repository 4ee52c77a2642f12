"""The small parts the session is wired with: send-if-open, the inbox, Ctrl-C, and
the viewer page flushed before it is closed.

A real TCP connection on loopback (frames, no TLS: the channel's sending is
what is tested), a real signal to this process, a real WebSocket client in
place of the page.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from collections.abc import Awaitable, Callable

from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from ra.ctrl_c import on_ctrl_c
from ra.net.framing import Kind
from ra.net.transport import Channel, FrameStream
from ra.session.inbox import Chunk, Feed, Inbox, ScreenMessage, finish
from ra.viewer import ViewerServer

T = 5.0


async def _pair() -> tuple[Channel, FrameStream, Callable[[], Awaitable[None]]]:
    """A channel and the raw stream at its other end; and how to close both."""
    accepted: asyncio.Queue[FrameStream] = asyncio.Queue()

    async def arrived(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.put_nowait(FrameStream(reader, writer))

    server = await asyncio.start_server(arrived, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    channel = Channel(FrameStream(reader, writer), role="person", invitation_id="i",
                      peer="127.0.0.1", session_id="s")
    peer = await asyncio.wait_for(accepted.get(), T)

    async def close() -> None:
        await channel.close()
        await peer.close()
        server.close()
        await server.wait_closed()

    return channel, peer, close


def test_send_if_open_sends_while_open_and_drops_after_the_close() -> None:
    async def scenario() -> None:
        channel, peer, close = await _pair()
        try:
            assert await channel.send_if_open({"type": "chat", "text": "one"}) is True
            frame = await asyncio.wait_for(peer.read_frame(), T)
            assert (frame.kind, frame.message) == (Kind.JSON, {"type": "chat", "text": "one"})
            channel.abort()
            assert await channel.send_if_open({"type": "chat", "text": "two"}) is False
        finally:
            await close()

    asyncio.run(scenario())


def test_the_inbox_hands_its_items_over_in_order_and_answers_the_viewer_once_done() -> None:
    async def scenario() -> None:
        inbox = Inbox()

        def tick(now: float) -> list[object]:
            return []

        inbox.chunk({"index": 0})
        thread = threading.Thread(target=inbox.put, args=(tick,))
        thread.start()
        thread.join()
        asked = asyncio.create_task(inbox.ask({"type": "screen.refresh"}))
        first = await asyncio.wait_for(inbox.get(), T)
        second = await asyncio.wait_for(inbox.get(), T)
        third = await asyncio.wait_for(inbox.get(), T)
        assert first == Chunk({"index": 0})
        assert isinstance(second, Feed) and second.call is tick and not second.by_viewer
        assert isinstance(third, ScreenMessage)
        assert third.message == {"type": "screen.refresh"}
        assert not asked.done()  # the viewer waits until the driver has done it
        finish(third)
        await asyncio.wait_for(asked, T)

    asyncio.run(scenario())


def test_a_closed_inbox_drops_what_waits_and_answers_at_once() -> None:
    async def scenario() -> None:
        inbox = Inbox()
        first = asyncio.create_task(inbox.ask(lambda now: []))
        second = asyncio.create_task(inbox.ask({"type": "screen.refresh"}))
        taken = await asyncio.wait_for(inbox.get(), T)  # the driver took the first
        assert isinstance(taken, Feed) and taken.by_viewer
        inbox.close()  # the driver stopped: the second is dropped, its asker answered
        await asyncio.wait_for(second, T)
        assert not first.done()  # taken: answered once the driver is done with it
        finish(taken)
        await asyncio.wait_for(first, T)
        await asyncio.wait_for(inbox.ask({"type": "screen.refresh"}), T)  # closed: at once
        assert inbox.take_all() == []

    asyncio.run(scenario())


def test_ctrl_c_calls_the_handler_inside_the_block_and_not_after() -> None:
    async def scenario() -> None:
        pressed = asyncio.Event()
        with on_ctrl_c(pressed.set):
            os.kill(os.getpid(), signal.SIGINT)
            await asyncio.wait_for(pressed.wait(), T)
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    asyncio.run(scenario())


def test_the_page_is_sent_everything_queued_before_the_viewer_closes() -> None:
    async def scenario() -> None:
        server = ViewerServer(lambda message: None)
        url = await server.start()
        origin = Origin(f"http://127.0.0.1:{server.port}")
        got: list[str] = []
        async with ws_connect(f"ws://127.0.0.1:{server.port}/ws/{url.rsplit('/', 1)[1]}",
                              origin=origin) as ws:
            await asyncio.wait_for(server.connected.wait(), T)
            for n in range(200):
                await server.send_json({"type": "chat", "from": "Alice", "text": f"{n} " * 50})
            await server.send_json({"type": "status", "state": "disconnected"})
            await server.flush(T)
            await server.close()
            try:
                while True:
                    got.append(str(await asyncio.wait_for(ws.recv(), T)))
            except ConnectionClosed:
                pass
        assert len(got) == 201 and '"disconnected"' in got[-1]

    asyncio.run(scenario())
