"""Two machines on one host (network namespaces joined by a veth pair, nftables in the
person's): the invitation carries an address that reaches, `ra connect` says why it
cannot get through, `ra doctor` and `ra firewall` find and mend a blocking rule.

Every namespace, veth and rule is made by these tests and removed when each test
ends (also when it fails); the tests skip, saying why, where namespaces cannot be made.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from netns_support import (
    Namespace,
    TwoMachines,
    leftovers,
    remove_stale,
    two_machines,
    unavailable,
)

PASSWORD = "correct horse battery staple 42"
T = 20  # seconds for any one expected line


@pytest.fixture(scope="module")
def netns_ok() -> None:
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)
    remove_stale()


@pytest.fixture
def machines(netns_ok: None) -> Iterator[TwoMachines]:
    with two_machines() as pair:
        yield pair


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "RA_HOME": str(home), "RA_LOG_LEVEL": "warning",
           "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
    env.pop("DISPLAY", None)
    env.update(extra)
    return env


def _ra(ns: Namespace, home: Path, *args: str, input: str | None = None,
        timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(ns.argv(sys.executable, "-m", "ra", *args), input=input,
                          capture_output=True, text=True, env=_env(home, **env),
                          timeout=timeout)


# -- the fixture itself ------------------------------------------------------------


def test_namespaces_reach_each_other_and_are_removed(netns_ok: None) -> None:
    with two_machines() as pair:
        names = [pair.person.name, pair.helper.name]
        assert leftovers(names) == names
        addresses = json.loads(pair.person.run("ip", "-j", "addr").stdout)
        found = {info["local"] for link in addresses for info in link["addr_info"]}
        assert pair.person.address in found and pair.helper.address not in found
        # The helper reaches the person's address over the veth (a TCP listener there).
        probe = ("import socket,sys; s=socket.create_connection((sys.argv[1], 9), 5)")
        refused = pair.helper.run(sys.executable, "-c", probe, pair.person.address,
                                  check=False)
        assert "ConnectionRefusedError" in refused.stderr  # reached, nothing listening
    assert leftovers(names) == []


def test_namespaces_are_removed_when_the_test_fails(netns_ok: None) -> None:
    names: list[str] = []
    with pytest.raises(RuntimeError), two_machines() as pair:
        names += [pair.person.name, pair.helper.name]
        raise RuntimeError("a failing test")
    assert names and leftovers(names) == []


def test_stale_namespaces_of_dead_runs_are_removed(netns_ok: None) -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    mine = f"ratest-{os.getpid()}-keep"
    stale = f"ratest-{dead.pid}-1-p"
    try:
        for name in (mine, stale):
            subprocess.run(["ip", "netns", "add", name], check=True)
        assert stale in remove_stale()
        assert leftovers([mine, stale]) == [mine]
    finally:
        for name in (mine, stale):
            subprocess.run(["ip", "netns", "del", name], capture_output=True)
