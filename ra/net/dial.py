"""The helper reaches the person's machine: every address tried, each failure said why.

`dial` tries the invitation's addresses in order, happy-eyeballs style
(RFC 8305): the first attempt starts at once, the next one when the previous
has failed or `STAGGER_S` has passed without an answer, so a dropped address
costs a quarter of a second, not a whole timeout. Each attempt is TCP within
`connect_timeout`, then TLS 1.3, then the certificate pin. The first attempt
that passes all three wins; the others are cancelled and closed.

A certificate that does not match the invitation is a failure of that address
like any other, and never a reason to try again without the pin.

Every failure becomes one line for the helper that names the cause and the
next step (`AddressFailure.line`):

- refused (a TCP reset or ICMP port unreachable): nobody is waiting there;
- no answer within the timeout: a firewall may be dropping it;
- unreachable (no route, host or network unreachable): a network problem;
- the certificate does not match: not the machine that made the invitation;
- a name that does not resolve, a TLS failure: said as such.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from ra.net.errors import ConnectError, FingerprintMismatch

STAGGER_S = 0.25
DEFAULT_CONNECT_TIMEOUT = 5.0

Cause = Literal["refused", "no_answer", "unreachable", "mismatch", "not_found", "tls", "other"]
Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
Pin = Callable[[asyncio.StreamWriter, str], None]
"""(writer, address) -> None, or raise FingerprintMismatch."""

_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN, errno.ENETDOWN,
                errno.EADDRNOTAVAIL}


def format_address(host: str, port: int) -> str:
    """``host:port``, with brackets around an IPv6 address."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


@dataclass(frozen=True)
class AddressFailure:
    """Why one address could not be used."""

    address: str  # host:port
    cause: Cause
    detail: str = ""
    timeout: float = DEFAULT_CONNECT_TIMEOUT

    def line(self) -> str:
        """One line for the helper: the cause and what to do next."""
        where = self.address
        if self.cause == "refused":
            return f"nobody is waiting on {where}: is `ra ask` running on their machine?"
        if self.cause == "no_answer":
            return (f"no answer from {where} in {self.timeout:g} s: a firewall may be "
                    "dropping it; on their machine run `ra doctor`")
        if self.cause == "unreachable":
            return (f"{where} cannot be reached from this network ({self.detail}): it may be "
                    "private to their network")
        if self.cause == "mismatch":
            return f"{where} is not the machine that made this invitation"
        if self.cause == "not_found":
            return f"the name in {where} could not be found ({self.detail})"
        if self.cause == "tls":
            return (f"{where} answered, but not with a secure connection ra can use "
                    f"({self.detail}); is it `ra ask`?")
        return f"cannot connect to {where}: {self.detail}"


def classify(error: BaseException, address: str, timeout: float) -> AddressFailure:
    """An exception from one attempt, as a failure the helper can act on."""
    if isinstance(error, FingerprintMismatch):
        return AddressFailure(address, "mismatch", timeout=timeout)
    if isinstance(error, TimeoutError):
        return AddressFailure(address, "no_answer", timeout=timeout)
    if isinstance(error, ConnectionRefusedError):
        return AddressFailure(address, "refused", timeout=timeout)
    if isinstance(error, socket.gaierror):
        return AddressFailure(address, "not_found", str(error.strerror or error).lower(),
                              timeout)
    if isinstance(error, _SilentTls):
        return AddressFailure(address, "tls", str(error), timeout)
    if isinstance(error, ssl.SSLError):
        return AddressFailure(address, "tls", str(error.reason or error).lower(), timeout)
    if isinstance(error, ConnectionError):  # reset or closed during TLS
        return AddressFailure(address, "tls", "the connection was closed", timeout)
    if isinstance(error, OSError) and error.errno in _UNREACHABLE:
        return AddressFailure(address, "unreachable", (error.strerror or "").lower(), timeout)
    if isinstance(error, OSError) and error.strerror:
        return AddressFailure(address, "other", error.strerror.lower(), timeout)
    return AddressFailure(address, "other", str(error) or type(error).__name__, timeout)


class DialError(ConnectError):
    """No address of the invitation could be used; `failures` says why, for each."""

    def __init__(self, failures: Sequence[AddressFailure]) -> None:
        self.failures = list(failures)
        self.lines = [failure.line() for failure in self.failures] or [
            "the invitation names no address to connect to"
        ]
        Exception.__init__(self, "; ".join(self.lines))  # not the MRO: one message


class MismatchError(DialError, FingerprintMismatch):
    """Every address that answered presented another certificate (and none worked)."""

    def __init__(self, failures: Sequence[AddressFailure]) -> None:
        DialError.__init__(self, failures)
        self.address = next(f.address for f in failures if f.cause == "mismatch")


class _SilentTls(Exception):
    """TCP connected, but no TLS answer came in time."""


async def _attempt(host: str, port: int, context: ssl.SSLContext, pin: Pin,
                   connect_timeout: float, tls_timeout: float) -> Streams:
    address = format_address(host, port)
    async with asyncio.timeout(connect_timeout):
        reader, writer = await asyncio.open_connection(host, port)
    try:
        try:
            async with asyncio.timeout(tls_timeout):
                await writer.start_tls(context, ssl_handshake_timeout=tls_timeout)
        except TimeoutError:
            raise _SilentTls(f"no TLS answer in {tls_timeout:g} s") from None
        pin(writer, address)
    except BaseException:
        writer.transport.abort()
        raise
    return reader, writer


async def dial(
    hosts: Sequence[str],
    port: int,
    context: ssl.SSLContext,
    pin: Pin,
    *,
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    tls_timeout: float = DEFAULT_CONNECT_TIMEOUT,
    stagger: float = STAGGER_S,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, str, list[AddressFailure]]:
    """The first address that connects, speaks TLS 1.3 and holds the pinned certificate.

    Returns (reader, writer, address, the failures before it). Raises
    MismatchError when any address presented another certificate (and none
    worked), else DialError.
    """
    started: dict[asyncio.Task[Streams], int] = {}
    failures: dict[int, AddressFailure] = {}
    pending: set[asyncio.Task[Streams]] = set()
    winner: asyncio.Task[Streams] | None = None
    next_index = 0
    try:
        while next_index < len(hosts) or pending:
            if next_index < len(hosts):
                task = asyncio.create_task(_attempt(hosts[next_index], port, context, pin,
                                                    connect_timeout, tls_timeout))
                started[task] = next_index
                pending.add(task)
                next_index += 1
            wait = stagger if next_index < len(hosts) else None
            done, pending = await asyncio.wait(pending, timeout=wait,
                                               return_when=asyncio.FIRST_COMPLETED)
            for task in sorted(done, key=started.__getitem__):
                index = started[task]
                error = task.exception()
                if error is None:
                    winner = task
                    break
                failures[index] = classify(error, format_address(hosts[index], port),
                                           connect_timeout)
            if winner is not None:
                reader, writer = winner.result()
                ordered = [failures[i] for i in sorted(failures)]
                return reader, writer, format_address(hosts[started[winner]], port), ordered
    finally:
        for task in started:
            if not task.done():
                task.cancel()
        for task in started:
            with contextlib.suppress(BaseException):
                await task
        for task in started:  # another attempt that also got through is closed
            if task is not winner and not task.cancelled() and task.exception() is None:
                task.result()[1].transport.abort()
    ordered = [failures[i] for i in sorted(failures)]
    if any(failure.cause == "mismatch" for failure in ordered):
        raise MismatchError(ordered)
    raise DialError(ordered)


__all__ = ["AddressFailure", "DialError", "MismatchError", "classify", "dial",
           "format_address"]
