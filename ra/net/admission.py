"""Who may hold a connection to `ra ask` before proving the password, and who is dropped.

Theory of operation
-------------------
A connection that has not proven the password costs the person's side memory
(TLS alone keeps about 300 KB while it shakes hands) and costs a stranger one
TCP connect. So `serve` asks this table before it starts TLS on a new
connection (`admit`), says when the connection has named an invitation that
is offered here (`promote`), and hands the place back when the connection
authenticated or ended (`release`). The table is sans-IO: it holds tickets
and returns decisions; `serve` closes the connections.

At most `PER_ORIGIN` connections of one origin and `TOTAL` in all are
unauthenticated at once. An origin is the peer's IPv4 address, or the /64 of
its IPv6 address (one host is usually given a whole /64); an IPv4-mapped IPv6
address is its IPv4 address.

The policy:

- A newcomer from an origin that already holds `PER_ORIGIN` connections is
  refused: closed at once, before TLS.
- When `TOTAL` connections are held, one of them goes so that the newcomer
  may proceed: the first in this order, the newcomer among the candidates
  (it is refused if it comes first):

  1. a connection that has not yet named an invitation offered here, before
     one that has (a stranger without the invitation file cannot protect its
     connections this way; the helper names it within milliseconds);
  2. then one from the origin holding the most connections;
  3. then one from the origin with the most strikes: refusals, evictions,
     deadlines passed and failed handshakes (the last `MEMORY` origins with
     strikes are remembered);
  4. then the oldest.

So a helper, one connection from an origin with no strikes, keeps its place
while a stranger fills the table from many addresses: the stranger's
connections go first, and the stranger's addresses earn strikes as they go.
A stranger could only compete with the helper on age alone with more fresh
addresses than `TOTAL` and none of them seen before.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

PER_ORIGIN = 8
"""Unauthenticated connections one origin may hold at once."""
TOTAL = 64
"""Unauthenticated connections held at once, from every origin (about 20 MB of TLS)."""
MEMORY = 4096
"""Origins whose strikes are remembered (the least recently struck are forgotten first)."""


def origin_key(address: str) -> str:
    """The origin a peer address counts against: an IPv4 address or an IPv6 /64."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


@dataclass(eq=False)
class Ticket:
    """One unauthenticated connection's place in the table."""

    origin: str
    number: int
    """Arrival order: lower is older."""
    promoted: bool = False
    """The connection named an invitation offered here."""
    stop: Callable[[], None] | None = field(default=None, repr=False)
    """Set by the owner: closes the connection when the ticket is evicted."""


class Admission:
    """The table of unauthenticated connections and its policy (see the module)."""

    def __init__(
        self, per_origin: int = PER_ORIGIN, total: int = TOTAL, memory: int = MEMORY
    ) -> None:
        if per_origin < 1 or total < 1:
            raise ValueError("the limits must be at least 1")
        self.per_origin = per_origin
        self.total = total
        self.memory = memory
        self._held: dict[Ticket, None] = {}  # insertion order = arrival order
        self._count: dict[str, int] = {}
        self._strikes: OrderedDict[str, int] = OrderedDict()
        self._numbers = itertools.count()
        self.refused = 0
        """Newcomers refused so far."""
        self.evicted = 0
        """Held connections evicted so far."""

    def __len__(self) -> int:
        return len(self._held)

    def tickets(self) -> Iterator[Ticket]:
        """The tickets held now, oldest first (a copy: safe to release while iterating)."""
        return iter(list(self._held))

    def count(self, origin: str) -> int:
        return self._count.get(origin, 0)

    def strikes(self, origin: str) -> int:
        return self._strikes.get(origin, 0)

    def admit(self, origin: str) -> tuple[Ticket | None, Ticket | None]:
        """A newcomer from ``origin``: (its ticket or None if refused, the ticket evicted)."""
        if self.count(origin) >= self.per_origin:
            self._strike(origin)
            self.refused += 1
            return None, None
        newcomer = Ticket(origin, next(self._numbers))
        evicted: Ticket | None = None
        if len(self._held) >= self.total:
            victim = max([*self._held, newcomer], key=self._badness(newcomer))
            if victim is newcomer:
                self._strike(origin)
                self.refused += 1
                return None, None
            self._remove(victim)
            self._strike(victim.origin)
            self.evicted += 1
            evicted = victim
        self._held[newcomer] = None
        self._count[origin] = self.count(origin) + 1
        return newcomer, evicted

    def promote(self, ticket: Ticket) -> None:
        """The connection named an invitation offered here (idempotent)."""
        ticket.promoted = True

    def release(self, ticket: Ticket, *, strike: bool = False) -> None:
        """The connection authenticated (``strike=False``) or failed; idempotent."""
        if ticket in self._held:
            self._remove(ticket)
            if strike:
                self._strike(ticket.origin)

    def _badness(self, newcomer: Ticket) -> Callable[[Ticket], tuple[bool, int, int, int]]:
        def badness(ticket: Ticket) -> tuple[bool, int, int, int]:
            count = self.count(ticket.origin) + (ticket.origin == newcomer.origin)
            return (not ticket.promoted, count, self.strikes(ticket.origin), -ticket.number)

        return badness

    def _remove(self, ticket: Ticket) -> None:
        del self._held[ticket]
        left = self._count[ticket.origin] - 1
        if left:
            self._count[ticket.origin] = left
        else:
            del self._count[ticket.origin]

    def _strike(self, origin: str) -> None:
        self._strikes[origin] = self._strikes.get(origin, 0) + 1
        self._strikes.move_to_end(origin)
        while len(self._strikes) > self.memory:
            self._strikes.popitem(last=False)


__all__ = ["MEMORY", "PER_ORIGIN", "TOTAL", "Admission", "Ticket", "origin_key"]
