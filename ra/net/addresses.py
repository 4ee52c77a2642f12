"""This machine's addresses: which ones an invitation carries, and where `ra ask` listens.

An invitation carries every address a helper could use, best first:

1. public addresses (reachable from the internet, if no firewall is in the way),
2. private ones (RFC 1918, unique-local IPv6, carrier-grade NAT, documentation),
3. IPv4 link-local (169.254/16),
4. IPv6 link-local (fe80::/10, written with its interface, ``fe80::1%eth0``) only
   when nothing else is there: it reaches only the same network segment;

IPv4 before IPv6 within each, then the host's DNS name where it resolves to one
of them. Loopback is never chosen on its own: it is carried only when asked
(``--host 127.0.0.1``). Addresses of interfaces that are down, and IPv6
addresses that are deprecated or failed duplicate detection, are left out.

Where they come from: ``ip -j addr show`` (iproute2, on every Linux with a
network); without it, the standard library: interface names from
``socket.if_nameindex``, each one's IPv4 address and flags by ``ioctl``, and
IPv6 from ``/proc/net/if_inet6``. Both read the network namespace the process
runs in, so a test in a namespace sees that namespace's addresses.

`listen_hosts` turns what invitations carry into what to bind (names resolved
here), and `bind_problem` says whether the port can be bound on an address.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import ipaddress
import json
import shutil
import socket
import struct
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Kind = Literal["public", "private", "link-local", "loopback"]
RANK: dict[str, int] = {"public": 0, "private": 1, "link-local": 2, "loopback": 3}
MAX_CARRIED = 32  # as many as an invitation file may hold

_SIOCGIFFLAGS = 0x8913
_SIOCGIFADDR = 0x8915
_IFF_UP = 0x1
_IFA_F_DADFAILED = 0x08
_IFA_F_DEPRECATED = 0x20


@dataclass(frozen=True)
class LocalAddress:
    """One address of one interface of this machine."""

    address: str  # IPv6 link-local carries its interface: fe80::1%eth0
    interface: str
    family: Literal[4, 6]

    @property
    def kind(self) -> Kind:
        return kind_of(self.address)


def kind_of(address: str) -> Kind:
    """Where an IP address can be reached from (a name counts as public)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "public"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    return "public" if ip.is_global else "private"


def _from_ip_json(text: str) -> list[LocalAddress]:
    found: list[LocalAddress] = []
    for link in json.loads(text):
        if "UP" not in link.get("flags", []):
            continue
        name = str(link.get("ifname", ""))
        for info in link.get("addr_info", []):
            family = info.get("family")
            if family not in ("inet", "inet6") or info.get("dadfailed") or info.get(
                "deprecated"
            ):
                continue
            address = str(info.get("local", ""))
            if not address:
                continue
            if family == "inet6" and info.get("scope") == "link":
                address = f"{address}%{name}"
            found.append(LocalAddress(address, name, 4 if family == "inet" else 6))
    return found


def _from_ip_command() -> list[LocalAddress] | None:
    ip = shutil.which("ip")
    if ip is None:
        return None
    try:
        done = subprocess.run([ip, "-j", "addr", "show"], capture_output=True, text=True,
                              timeout=5, check=False)
        if done.returncode != 0:
            return None
        return _from_ip_json(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError, TypeError, AttributeError):
        return None


def _ioctl(sock: socket.socket, request: int, name: str) -> bytes:
    return fcntl.ioctl(sock.fileno(), request, struct.pack("256s", name.encode()[:15]))


def from_stdlib() -> list[LocalAddress]:
    """The addresses without iproute2: ioctl for IPv4, /proc/net/if_inet6 for IPv6."""
    found: list[LocalAddress] = []
    up: set[str] = set()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in socket.if_nameindex():
            try:
                flags = struct.unpack_from("H", _ioctl(sock, _SIOCGIFFLAGS, name), 16)[0]
            except OSError:
                continue
            if not flags & _IFF_UP:
                continue
            up.add(name)
            try:
                raw = _ioctl(sock, _SIOCGIFADDR, name)
            except OSError:  # no IPv4 address on it
                continue
            found.append(LocalAddress(socket.inet_ntoa(raw[20:24]), name, 4))
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/if_inet6").read_text().splitlines():
            parts = line.split()
            if len(parts) != 6 or parts[5] not in up:
                continue
            hexa, _, _, scope, flags, name = parts
            if int(flags, 16) & (_IFA_F_DADFAILED | _IFA_F_DEPRECATED):
                continue
            address = str(ipaddress.IPv6Address(bytes.fromhex(hexa)))
            if int(scope, 16) == 0x20:
                address = f"{address}%{name}"
            found.append(LocalAddress(address, name, 6))
    return found


def interface_addresses() -> list[LocalAddress]:
    """Every address of every interface that is up, loopback included."""
    found = _from_ip_command()
    return from_stdlib() if found is None else found


def order(found: Iterable[LocalAddress]) -> list[LocalAddress]:
    """Best first (see the module's docstring); loopback and duplicates left out."""
    unique: dict[str, LocalAddress] = {}
    for one in found:
        if one.kind != "loopback":
            unique.setdefault(one.address, one)
    chosen = sorted(unique.values(), key=lambda a: (RANK[a.kind], a.family))
    others = [a for a in chosen if not (a.family == 6 and a.kind == "link-local")]
    return others or chosen


def dns_name(local: Sequence[str]) -> str | None:
    """The host's DNS name (with a dot) if it resolves to one of `local`."""
    name = socket.gethostname()
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM,
                                   flags=socket.AI_CANONNAME)
    except (OSError, UnicodeError):
        return None
    canonical = next((str(info[3]) for info in infos if info[3]), name)
    if "." not in canonical.strip(".") or len(canonical) > 253:
        return None
    plain = {address.split("%", 1)[0] for address in local}
    resolved = {str(info[4][0]) for info in infos}
    return canonical if plain & resolved else None


def invitation_addresses(found: Iterable[LocalAddress] | None = None,
                         with_name: bool = True) -> list[str]:
    """What an invitation carries by default, best first (empty: no network)."""
    addresses = [a.address for a in order(interface_addresses() if found is None else found)]
    if with_name and addresses:
        name = dns_name(addresses)
        if name is not None:
            addresses.append(name)
    return addresses[:MAX_CARRIED]


def none_public(addresses: Sequence[str]) -> bool:
    """True when every address is an IP that is private or link-local (no name)."""
    kinds = {kind_of(address) for address in addresses}
    return bool(addresses) and kinds <= {"private", "link-local"}


def listen_hosts(carried: Iterable[str]) -> list[str]:
    """The IP addresses to bind for what invitations carry (names resolved here)."""
    hosts: list[str] = []
    for entry in carried:
        try:
            ipaddress.ip_address(entry)
            resolved = [entry]
        except ValueError:
            try:
                infos = socket.getaddrinfo(entry, None, type=socket.SOCK_STREAM)
            except (OSError, UnicodeError):
                continue
            resolved = [str(info[4][0]) for info in infos]
        for host in resolved:
            if host not in hosts:
                hosts.append(host)
    return hosts


def bind_error(host: str, port: int, exc: OSError) -> str:
    """What an `OSError` from binding `port` on `host` means, said for a person."""
    if exc.errno == errno.EADDRINUSE:
        return f"port {port} on {host} is in use by another program"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine"
    if exc.errno == errno.EACCES:
        return f"not allowed to listen on port {port} on {host}: choose a port above 1023"
    return f"cannot listen on port {port} on {host}: {exc.strerror or type(exc).__name__}"


def bind_problem(host: str, port: int) -> str | None:
    """Why `port` cannot be bound on `host` (None: it can), said for a person."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                   flags=socket.AI_NUMERICHOST | socket.AI_PASSIVE)
    except (OSError, UnicodeError) as exc:
        return f"{host} is not an address of this machine ({exc})"
    family, kind, proto, _, sockaddr = infos[0]
    try:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(sockaddr)
    except OSError as exc:
        return bind_error(host, port, exc)
    return None


__all__ = [
    "LocalAddress",
    "bind_error",
    "bind_problem",
    "dns_name",
    "from_stdlib",
    "interface_addresses",
    "invitation_addresses",
    "kind_of",
    "listen_hosts",
    "none_public",
    "order",
]
