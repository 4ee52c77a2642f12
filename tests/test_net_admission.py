"""Strangers at the person's door: the admission table's policy (no network), and
`serve` holding it over real TLS on loopback (small limits, so the tests are quick)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from typing import Any

import pytest
import test_net_handshake
from test_net_handshake import HELPER, LOOPBACK, PASSWORD, Person, read_all, run

import ra.net.transport as transport
from ra.identity import Identity
from ra.net import Channel, ConnectionClosed, Kind, Listener, connect, serve
from ra.net.admission import Admission, origin_key
from ra.net.transport import client_tls_context

identity = test_net_handshake.identity  # the fixture, shared

# --------------------------------------------------------------------------
# The table.


def test_origin_is_the_ipv4_address_or_the_ipv6_64() -> None:
    assert origin_key("192.0.2.7") == "192.0.2.7"
    assert origin_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert origin_key("2001:db8:1:2:aaaa::1") == origin_key("2001:db8:1:2:bbbb::9")
    assert origin_key("2001:db8:1:2::1") == "2001:db8:1:2::/64"
    assert origin_key("2001:db8:1:3::1") != origin_key("2001:db8:1:2::1")
    assert origin_key("fe80::1%eth0") == "fe80::/64"
    assert origin_key("unknown") == "unknown"


def test_one_origin_holds_at_most_per_origin() -> None:
    table = Admission(per_origin=2, total=10)
    assert table.admit("a")[0] is not None
    assert table.admit("a")[0] is not None
    assert table.admit("a") == (None, None)
    assert table.admit("b")[0] is not None
    assert (len(table), table.refused, table.strikes("a")) == (3, 1, 1)


def test_a_released_place_is_free_again_and_release_is_idempotent() -> None:
    table = Admission(per_origin=1, total=10)
    ticket, _ = table.admit("a")
    assert ticket is not None
    table.release(ticket)
    table.release(ticket, strike=True)  # already gone: no strike
    assert table.strikes("a") == 0
    assert table.admit("a")[0] is not None


def test_when_full_the_origin_holding_most_loses_its_oldest() -> None:
    table = Admission(per_origin=3, total=4)
    first, _ = table.admit("crowd")
    table.admit("crowd")
    table.admit("crowd")
    table.admit("b")
    helper, evicted = table.admit("helper")
    assert helper is not None and evicted is first
    assert table.count("crowd") == 2 and table.strikes("crowd") == 1
    assert table.evicted == 1


def test_when_full_a_stranger_with_strikes_goes_before_the_helper() -> None:
    table = Admission(per_origin=8, total=3)
    table.admit("s1")
    table.admit("s2")
    helper, _ = table.admit("helper")  # table full now: s1, s2, helper
    assert helper is not None
    for n in range(3, 40):  # strangers from fresh addresses keep coming
        newcomer, evicted = table.admit(f"s{n}")
        assert newcomer is not None and evicted is not None
        assert evicted is not helper
        table.release(newcomer, strike=True)  # and fail their handshake
        table.admit(f"s{n - 1}")  # a returning stranger, with a strike
    assert helper in list(table.tickets())


def test_a_connection_that_names_the_invitation_outlasts_those_that_do_not() -> None:
    table = Admission(per_origin=8, total=2)
    helper, _ = table.admit("helper")
    assert helper is not None
    table.promote(helper)
    table.admit("s1")
    for n in range(2, 20):
        _, evicted = table.admit(f"s{n}")
        assert evicted is not None and evicted is not helper


def test_a_newcomer_that_would_be_the_first_to_go_is_refused() -> None:
    table = Admission(per_origin=8, total=2)
    one, _ = table.admit("a")
    two, _ = table.admit("b")
    assert one is not None and two is not None
    table.promote(one)
    table.promote(two)
    assert table.admit("c") == (None, None)  # both held ones named the invitation
    assert set(table.tickets()) == {one, two}


def test_strikes_are_remembered_for_the_last_origins_only() -> None:
    table = Admission(per_origin=1, total=1, memory=3)
    for origin in "abcd":
        table.admit(origin)
        table.admit(origin)  # refused: a strike
        for ticket in list(table.tickets()):
            table.release(ticket)
    assert [table.strikes(o) for o in "abcd"] == [0, 1, 1, 1]


# --------------------------------------------------------------------------
# serve() holding the table.


class Door(Person):
    """A running serve() with small limits: ``per_origin`` and ``total``."""

    def __init__(self, identity: Identity, *, per_origin: int, total: int, **kw: Any) -> None:
        super().__init__(identity, **kw)
        self.limits = {"per_origin": per_origin, "total": total}

    async def __aenter__(self) -> Door:
        self.server = await serve(
            LOOPBACK, 0, self.identity, secret_for=self.secret_for, check=self.check,
            on_auth_failed=self.on_auth_failed, on_authenticated=self.on_authenticated,
            handshake_timeout=self.handshake_timeout, **self.limits,
        )
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    @property
    def table(self) -> Admission:
        assert isinstance(self.server, Listener)
        return self.server.admission

    async def holding(self, count: int) -> None:
        """Until the table holds ``count`` connections (they are admitted as accepted)."""
        async with asyncio.timeout(5):
            while len(self.table) != count:
                await asyncio.sleep(0.01)


async def _stranger(port: int, source: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP connection from ``source`` that sends nothing."""
    return await asyncio.open_connection(LOOPBACK, port, local_addr=(source, 0))


async def _closed_at_once(reader: asyncio.StreamReader) -> bool:
    """The person closed this connection without sending a byte (no TLS)."""
    return await asyncio.wait_for(read_all(reader), 2) == b""


def test_serve_closes_a_connection_over_the_limit_before_tls(identity: Identity) -> None:
    async def main() -> None:
        async with Door(identity, per_origin=2, total=8) as door:
            held = [await _stranger(door.port, "127.0.0.2") for _ in range(2)]
            await door.holding(2)
            reader, writer = await _stranger(door.port, "127.0.0.2")
            assert await _closed_at_once(reader)
            assert door.table.refused == 1
            # Another origin still gets a place, and the helper gets in.
            _, other = await _stranger(door.port, "127.0.0.3")
            await door.holding(3)
            channel = await connect(door.invite(), PASSWORD, HELPER, timeout=2)
            await channel.close()
            for w in [writer, other, *(w for _, w in held)]:
                w.close()

    run(main())


def test_the_helper_gets_in_while_strangers_fill_the_table(identity: Identity) -> None:
    async def main() -> None:
        async with Door(identity, per_origin=2, total=4) as door:
            invitation = door.invite()
            stop = asyncio.Event()
            crowded = asyncio.Event()
            kept: list[asyncio.StreamWriter] = []

            async def crowd() -> None:  # ten addresses, again and again
                n = 0
                while not stop.is_set():
                    with contextlib.suppress(OSError):
                        _, writer = await _stranger(door.port, f"127.0.0.{2 + n % 10}")
                        kept.append(writer)
                    n += 1
                    if door.table.evicted + door.table.refused >= 20:
                        crowded.set()

            flood = asyncio.create_task(crowd())
            await asyncio.wait_for(crowded.wait(), 5)
            channel = await connect(invitation, PASSWORD, HELPER, timeout=5)
            stop.set()
            await flood
            assert isinstance(channel, Channel)
            assert door.seen.sessions == [(invitation.invitation_id, LOOPBACK)]
            await channel.close()
            for writer in kept:
                writer.transport.abort()

    run(main(), timeout=15)


def test_close_drops_the_unauthenticated(identity: Identity) -> None:
    async def main() -> None:
        async with Door(identity, per_origin=8, total=8) as door:
            tls_reader, _ = await asyncio.open_connection(
                LOOPBACK, door.port, ssl=client_tls_context(), server_hostname="ra"
            )
            plain_reader, _ = await _stranger(door.port, "127.0.0.2")
            await door.holding(2)
            assert door.server is not None
            door.server.close()
            await door.server.wait_closed()
            assert len(door.table) == 0
            assert await _closed_at_once(plain_reader)
            assert await asyncio.wait_for(read_all(tls_reader), 2) == b""

    run(main())


def test_a_peer_that_stops_reading_is_dropped(
    identity: Identity, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transport, "WRITE_STALL_S", 0.5)

    async def session(channel: Channel, _id: str, _origin: str) -> None:
        with pytest.raises(ConnectionClosed, match="stopped reading"):
            while True:  # the helper reads nothing
                await channel.send_frame(Kind.SCREEN, b"\x00" * 65536)

    async def main() -> None:
        async with Person(identity, session=session) as person:
            channel = await connect(person.invite(), PASSWORD, HELPER, timeout=2)
            await asyncio.wait_for(person.seen.done.wait(), 10)
            assert person.seen.errors == []
            channel.abort()

    run(main(), timeout=15)


def _unread_errors() -> list[asyncio.Future[Any]]:
    """The futures that hold an error nobody has read: asyncio reports each, with
    a traceback, when it is collected (``_log_traceback`` is how it knows)."""
    return [f for f in gc.get_objects() if isinstance(f, asyncio.Future)
            and f.done() and not f.cancelled() and f._log_traceback]


def test_peers_that_close_in_the_middle_of_tls_leave_no_asyncio_complaint(
        identity: Identity) -> None:
    """Peers that start a TLS hello and close leave their error in the stream's
    close waiter; collected before the stream, it made asyncio print "Future
    exception was never retrieved" and a traceback on the person's terminal.
    None is left unread, none is reported, and the helper still gets in."""
    hello = bytes.fromhex("16030100c8010000c40303") + bytes(32)  # a ClientHello, cut short
    complaints: list[dict[str, Any]] = []
    unread: list[asyncio.Future[Any]] = []

    async def main() -> None:
        asyncio.get_running_loop().set_exception_handler(
            lambda loop, context: complaints.append(context))
        async with Door(identity, per_origin=64, total=256) as door:
            for _ in range(20):
                reader, writer = await _stranger(door.port, "127.0.0.2")
                writer.write(hello)
                await writer.drain()
                writer.close()  # in the middle of the handshake
                await asyncio.wait_for(read_all(reader), 2)  # the person closed too
            await door.holding(0)
            unread.extend(_unread_errors())
            channel = await connect(door.invite(), PASSWORD, HELPER, timeout=2)
            await channel.close()

    run(main())
    assert unread == []
    gc.collect()  # what collecting their streams would report, now
    assert [c.get("message") for c in complaints] == []
