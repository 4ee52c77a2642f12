"""Who is at the other end of a loopback TCP connection: its owner's uid (Linux).

The viewer listens on 127.0.0.1, which every local account can reach; its
token keeps strangers out only as long as the token stays private. This is
the second lock: a connection made by another account is closed before a
single byte of HTTP is read or written.

Theory of operation. The kernel lists every TCP socket of this network
namespace in ``/proc/net/tcp`` (IPv4) and ``/proc/net/tcp6`` (IPv6, and IPv4
through v4-mapped addresses), one line per socket: its local and remote
address and port, its state and the uid that owns it. For a connection we
accepted, the peer's own socket is the line whose local end is our remote end
and whose remote end is our local end. Any such line owned by another uid
refuses the connection.

What cannot tell is explicit:

- the tables cannot be read (not Linux, ``/proc`` not mounted): `refusal`
  returns None and the connection is allowed; the token still guards it;
- the tables can be read but list no live socket for the peer: refused. For a
  connection over loopback the peer's socket is listed from before we accept
  it until it closes; one missing has closed already or lives where we cannot
  see it, and either way there is nobody we could vouch for.

Sockets in TIME_WAIT are left out: the kernel shows them owned by uid 0.
"""

from __future__ import annotations

import ipaddress
import os
import struct
from collections.abc import Sequence
from pathlib import Path

#: The kernel's TCP tables, IPv4 then IPv6.
TABLES: tuple[Path, ...] = (Path("/proc/net/tcp"), Path("/proc/net/tcp6"))

_TIME_WAIT = "06"

Address = tuple[str, int] | tuple[str, int, int, int]


def _hex_address(packed: bytes) -> str:
    """An address as the tables print it: each 32-bit word in the host's order, %08X."""
    words = struct.unpack(f"={len(packed) // 4}I", packed)
    return "".join(f"{word:08X}" for word in words)


def _ends(address: Address) -> set[str]:
    """The ways the tables may print one end (``ADDR:PORT``): as itself and v4-mapped."""
    host, port = address[0], int(address[1])
    ip = ipaddress.ip_address(host.split("%", 1)[0])
    forms = {ip.packed}
    if isinstance(ip, ipaddress.IPv4Address):
        forms.add(ipaddress.IPv6Address(f"::ffff:{ip}").packed)
    elif ip.ipv4_mapped is not None:
        forms.add(ip.ipv4_mapped.packed)
    return {f"{_hex_address(packed)}:{port:04X}" for packed in forms}


def peer_uids(local: Address, remote: Address,
              tables: Sequence[Path] = TABLES) -> set[int] | None:
    """The uids owning the peer's socket of the connection ``local`` <-> ``remote``.

    ``local`` and ``remote`` are our socket's name and its peer's name. The
    result is empty if the tables list no live socket for the peer, and None
    if no table could be read at all.
    """
    theirs, ours = _ends(remote), _ends(local)
    uids: set[int] = set()
    readable = False
    for table in tables:
        try:
            text = table.read_text(encoding="ascii", errors="replace")
        except OSError:
            continue
        readable = True
        for line in text.splitlines()[1:]:
            fields = line.split()
            if (len(fields) > 7 and fields[1] in theirs and fields[2] in ours
                    and fields[3] != _TIME_WAIT):
                try:
                    uids.add(int(fields[7]))
                except ValueError:
                    uids.add(-1)  # an owner we cannot read is not us
    return uids if readable else None


def refusal(local: Address, remote: Address, *, uid: int | None = None,
            tables: Sequence[Path] = TABLES) -> str | None:
    """Why the connection ``local`` <-> ``remote`` must be refused, or None to allow it.

    ``uid`` is the account that may connect (default: our own).
    """
    owners = peer_uids(local, remote, tables)
    if owners is None:
        return None  # the system cannot tell; documented above
    if not owners:
        return "peer not listed"
    if owners != {os.getuid() if uid is None else uid}:
        return "another account"
    return None


__all__ = ["TABLES", "peer_uids", "refusal"]
