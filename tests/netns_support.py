"""Two machines on one host: network namespaces joined by a veth pair.

`two_machines()` makes a "person" and a "helper" namespace, each with its
own loopback and one end of a veth pair (10.231.N.1/30 and 10.231.N.2/30),
and removes both when the block ends, also when a test fails. The veth ends
are created directly inside the namespaces, so deleting a namespace removes
its end (and every nftables rule made in it): nothing is left in the host's
own namespace.

Names carry this process's id (``ratest-<pid>-<n>-p``). A run killed before
its cleanup leaves its namespaces behind; `remove_stale()` deletes those
whose process is gone, and never touches a namespace of a run still alive
(or any namespace not made here).

Commands run inside a namespace with ``ip netns exec NAME ...``
(`Namespace.argv`). Making namespaces needs root (CAP_NET_ADMIN and
CAP_SYS_ADMIN); `unavailable()` says why they cannot be made, for a skip.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

PREFIX = "ratest-"
_counter = itertools.count(1)


@dataclass(frozen=True)
class Namespace:
    name: str
    address: str  # its veth address (IPv4, no prefix length)

    def argv(self, *command: str) -> list[str]:
        """`command` run inside this namespace."""
        return ["ip", "netns", "exec", self.name, *command]

    def run(self, *command: str, check: bool = True, input: str | None = None,
            timeout: float = 30) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*command), capture_output=True, text=True,
                              check=check, input=input, timeout=timeout)


@dataclass(frozen=True)
class TwoMachines:
    person: Namespace
    helper: Namespace


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=check,
                          timeout=30)


def unavailable() -> str | None:
    """Why namespaces cannot be made here, or None when they can."""
    if shutil.which("ip") is None:
        return "iproute2 (`ip`) is not installed"
    if os.geteuid() != 0:
        return "making network namespaces needs root (CAP_NET_ADMIN)"
    probe = f"{PREFIX}{os.getpid()}-probe"
    made = _ip("netns", "add", probe, check=False)
    if made.returncode != 0:
        return f"cannot make a network namespace: {made.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


def _namespaces() -> list[str]:
    listed = _ip("netns", "list", check=False).stdout
    return [line.split()[0] for line in listed.splitlines() if line.strip()]


def remove_stale() -> list[str]:
    """Delete namespaces left by test runs that are no longer running."""
    removed = []
    for name in _namespaces():
        if not name.startswith(PREFIX):
            continue
        pid = name[len(PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            _ip("netns", "del", name, check=False)
            removed.append(name)
    return removed


def _setup(person: Namespace, helper: Namespace) -> None:
    _ip("netns", "add", person.name)
    _ip("netns", "add", helper.name)
    # Both ends are made inside the namespaces: none ever exists in the host's.
    _ip("link", "add", "ra0", "netns", person.name, "type", "veth",
        "peer", "name", "ra0", "netns", helper.name)
    for ns in (person, helper):
        _ip("-n", ns.name, "addr", "add", f"{ns.address}/30", "dev", "ra0")
        _ip("-n", ns.name, "link", "set", "lo", "up")
        _ip("-n", ns.name, "link", "set", "ra0", "up")


@contextlib.contextmanager
def two_machines() -> Iterator[TwoMachines]:
    """A person and a helper namespace joined by a veth pair; removed on exit."""
    n = next(_counter)
    subnet = f"10.231.{n % 250}"
    base = f"{PREFIX}{os.getpid()}-{n}"
    pair = TwoMachines(Namespace(f"{base}-p", f"{subnet}.1"),
                       Namespace(f"{base}-h", f"{subnet}.2"))
    try:
        _setup(pair.person, pair.helper)
        yield pair
    finally:
        for ns in (pair.person, pair.helper):
            _ip("netns", "del", ns.name, check=False)


def nft(ns: Namespace, script: str) -> None:
    """Load an nftables script in `ns` (fails the test if nft refuses it)."""
    done = ns.run("nft", "-f", "-", input=script, check=False)
    assert done.returncode == 0, f"nft refused the rules: {done.stderr}"


def drop_port(ns: Namespace, port: int, verdict: str = "drop", match: str = "") -> None:
    """An input chain in `ns` whose policy accepts but that ends `verdict` on `port`.

    ``verdict`` is ``drop`` (no answer) or ``reject with tcp reset`` (refused);
    ``match`` narrows the rule (e.g. ``ip daddr 10.231.1.1``).
    """
    nft(ns, f"""
table inet ratest {{
    chain input {{
        type filter hook input priority 0; policy accept;
        {match} tcp dport {port} {verdict}
    }}
}}
""")


def leftovers(names: Sequence[str]) -> list[str]:
    """Which of `names` still exist as namespaces (for the cleanup test)."""
    present = set(_namespaces())
    return [name for name in names if name in present]
