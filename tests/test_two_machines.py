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
import time
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest
from netns_support import (
    Namespace,
    TwoMachines,
    drop_port,
    leftovers,
    nft,
    remove_stale,
    two_machines,
    unavailable,
)
from support import stop

from ra.events import EventStore
from ra.home import Home

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


# -- addresses -----------------------------------------------------------------------


def _create(ns: Namespace, home: Path, tmp: Path, *extra: str,
            port: int = 5960) -> tuple[dict[str, object], Path, str]:
    """`ra invite create` in `ns`; returns its --json, the file and what it said on stderr."""
    file = tmp / f"help-{ns.name}.rainv"
    done = _ra(ns, home, "invite", "create", "--name", "Alice", "--password-stdin",
               "--save", str(file), "--port", str(port), "--json", *extra,
               input=PASSWORD + "\n")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), file, done.stderr


def _carried(file: Path) -> list[str]:
    from ra.invitations import load_invitation

    return list(load_invitation(file).addresses)


def test_invitation_carries_the_veth_address_not_loopback(machines: TwoMachines,
                                                         tmp_path: Path) -> None:
    person = machines.person
    created, file, said = _create(person, tmp_path / "person", tmp_path)
    assert _carried(file) == [person.address] == created["addresses"]
    assert said.strip() == (f"all of its addresses ({person.address}) are private: a helper "
                            "outside this network cannot reach them")
    _, file, said = _create(person, tmp_path / "person", tmp_path, "--host", "127.0.0.1")
    assert _carried(file) == ["127.0.0.1"] and said == ""


def test_addresses_best_first_and_read_without_iproute2(machines: TwoMachines) -> None:
    person = machines.person
    def ip(*args: str) -> None:
        subprocess.run(["ip", "-n", person.name, *args], check=True)

    ip("addr", "add", "fd31::1/64", "dev", "ra0", "nodad")
    # A second interface with public addresses (harmless: this namespace has no way out).
    ip("link", "add", "ra1", "type", "veth", "peer", "name", "ra2")
    ip("addr", "add", "1.2.3.4/32", "dev", "ra1")
    ip("addr", "add", "2a00:1::9/128", "dev", "ra1", "nodad")
    ip("link", "set", "ra1", "up")
    ip("link", "set", "ra2", "up")
    script = ("import json; from ra.net import addresses as a; "
              "print(json.dumps([[x.address for x in a.order(a.interface_addresses())], "
              "[x.address for x in a.order(a.from_stdlib())]]))")
    out = person.run(sys.executable, "-c", script).stdout
    with_ip, without_ip = json.loads(out)
    # Public before private, IPv4 before IPv6 in each; no loopback, no fe80::.
    assert with_ip == ["1.2.3.4", "2a00:1::9", person.address, "fd31::1"]
    assert sorted(without_ip) == sorted(with_ip)


def test_ask_listens_only_where_the_invitation_points(machines: TwoMachines,
                                                      tmp_path: Path) -> None:
    person = machines.person
    home = tmp_path / "person"
    created, _, _ = _create(person, home, tmp_path, port=5961)
    argv = person.argv(sys.executable, "-m", "ra", "ask", str(created["id"]))
    ask = pexpect.spawn(argv[0], argv[1:], env=_env(home), encoding="utf-8", timeout=T)
    try:
        ask.expect(r"listening on (\S+)\r\n")
        assert ask.match.group(1) == f"{person.address}:5961"
        probe = ("import socket,sys\n"
                 "try:\n socket.create_connection(('127.0.0.1', 5961), 5); print('open')\n"
                 "except ConnectionRefusedError: print('refused')")
        assert person.run(sys.executable, "-c", probe).stdout.strip() == "refused"
    finally:
        ask.terminate(force=True)


# -- errors that say why ---------------------------------------------------------------


@pytest.fixture
def spawned(machines: TwoMachines) -> Iterator[list[pexpect.spawn]]:
    """Processes started in the namespaces; ended before the namespaces go."""
    children: list[pexpect.spawn] = []
    yield children
    stop(children)


def _spawn(ns: Namespace, home: Path, children: list[pexpect.spawn], *args: str,
           **env: str) -> pexpect.spawn:
    argv = ns.argv(sys.executable, "-m", "ra", *args)
    child = pexpect.spawn(argv[0], argv[1:], env=_env(home, **env), encoding="utf-8",
                          timeout=T, dimensions=(50, 300))
    child.logfile_read = sys.stdout
    children.append(child)
    return child


def _ask(ns: Namespace, home: Path, inv_id: object, children: list[pexpect.spawn],
         **env: str) -> pexpect.spawn:
    person = _spawn(ns, home, children, "ask", str(inv_id), "--terminal", **env)
    person.expect(rf"listening on {ns.address}:\d+")
    return person


def _connect_fails(machines: TwoMachines, tmp_path: Path, file: Path) -> tuple[str, float]:
    """`ra connect` from the helper's namespace, expected to fail: its stderr and time."""
    started = time.monotonic()
    done = _ra(machines.helper, tmp_path / "helper", "connect", str(file), "--password-stdin",
               "--no-browser", input=PASSWORD + "\n", timeout=60)
    elapsed = time.monotonic() - started
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr
    return done.stderr.strip(), elapsed


def test_nobody_waiting_is_said(machines: TwoMachines, tmp_path: Path) -> None:
    _, file, _ = _create(machines.person, tmp_path / "person", tmp_path, port=5962)
    said, _ = _connect_fails(machines, tmp_path, file)
    assert said == (f"ra: nobody is waiting on {machines.person.address}:5962: is `ra ask` "
                    "running on their machine?")


def test_a_dropping_firewall_is_no_answer(machines: TwoMachines, tmp_path: Path,
                                          spawned: list[pexpect.spawn]) -> None:
    home = tmp_path / "person"
    created, file, _ = _create(machines.person, home, tmp_path, port=5963)
    _ask(machines.person, home, created["id"], spawned)
    drop_port(machines.person, 5963)
    said, elapsed = _connect_fails(machines, tmp_path, file)
    assert said == (f"ra: no answer from {machines.person.address}:5963 in 5 s: a firewall "
                    "may be dropping it; on their machine run `ra doctor`")
    assert 4.5 < elapsed < 15


def test_a_rejecting_firewall_is_nobody_waiting(machines: TwoMachines, tmp_path: Path,
                                                spawned: list[pexpect.spawn]) -> None:
    home = tmp_path / "person"
    created, file, _ = _create(machines.person, home, tmp_path, port=5964)
    _ask(machines.person, home, created["id"], spawned)
    drop_port(machines.person, 5964, "reject with tcp reset")
    said, elapsed = _connect_fails(machines, tmp_path, file)
    assert said == (f"ra: nobody is waiting on {machines.person.address}:5964: is `ra ask` "
                    "running on their machine?")
    assert elapsed < 4.5


def test_another_ra_at_the_address_is_not_the_machine(machines: TwoMachines, tmp_path: Path,
                                                      spawned: list[pexpect.spawn]) -> None:
    _, file, _ = _create(machines.person, tmp_path / "person", tmp_path, port=5965)
    other = tmp_path / "other"
    (tmp_path / "o").mkdir()
    created, _, _ = _create(machines.person, other, tmp_path / "o", port=5965)
    _ask(machines.person, other, created["id"], spawned)
    said, _ = _connect_fails(machines, tmp_path, file)
    assert said == (f"ra: {machines.person.address}:5965 is not the machine that made this "
                    "invitation")
    # The other ra saw no handshake message: the pin is checked before any is sent.
    with EventStore.open(Home.at(other)) as store:
        types = [event.type for event in store.iter_events(stream_prefix="invitation:")]
    assert types == ["invitation.created", "invitation.sent"]


def test_a_dropped_address_gives_way_to_the_next_at_once(
        machines: TwoMachines, tmp_path: Path, spawned: list[pexpect.spawn]) -> None:
    person, helper = machines.person, machines.helper
    second = person.address.rsplit(".", 1)[0] + ".5"
    subprocess.run(["ip", "-n", person.name, "addr", "add", f"{second}/30", "dev", "ra0"],
                   check=True)
    subprocess.run(["ip", "-n", helper.name, "addr", "add",
                    second.rsplit(".", 1)[0] + ".6/30", "dev", "ra0"], check=True)
    home = tmp_path / "person"
    created, file, _ = _create(person, home, tmp_path, "--host", person.address,
                               "--host", second, port=5966)
    _ask(person, home, created["id"], spawned)
    # Only the first address is dropped: the helper must not wait out its 5 s.
    drop_port(person, 5966, match=f"ip daddr {person.address}")
    started = time.monotonic()
    helper_child = _spawn(helper, tmp_path / "helper", spawned, "connect", str(file),
                          "--password-stdin", "--no-browser")
    helper_child.sendline(PASSWORD)
    helper_child.expect(r"connected to (\S+)\r\n")
    assert helper_child.match.group(1) == f"{second}:5966"
    assert time.monotonic() - started < 4.5


# -- the doctor and the firewall --------------------------------------------------------


def _firewall_events(home: Path) -> list[tuple[str, dict[str, object]]]:
    with EventStore.open(Home.at(home)) as store:
        return [(event.type, dict(event.payload))
                for event in store.iter_events(stream_prefix="host:firewall")]


def _doctor(ns: Namespace, home: Path, port: int, **env: str) -> tuple[int, dict[str, str]]:
    """`ra doctor --json` in `ns`: its exit code and each check's rendered status + line."""
    done = _ra(ns, home, "doctor", "--port", str(port), "--json", **env)
    assert "Traceback" not in done.stderr, done.stderr
    report = json.loads(done.stdout)
    lines: dict[str, str] = {}
    for check in report["checks"]:
        fix = f"; fix: {check['fix']}" if check["fix"] and check["status"] != "ok" else ""
        lines.setdefault(check["name"], f"{check['status']} {check['line']}{fix}")
    assert report["ok"] == (done.returncode == 0)
    return done.returncode, lines


def test_doctor_without_a_display_says_so(machines: TwoMachines, tmp_path: Path) -> None:
    code, lines = _doctor(machines.person, tmp_path / "person", 5967)
    assert code == 1
    assert lines["display"].startswith("fail no X display: $DISPLAY is not set; fix: ")
    assert lines["xtest"].startswith("fail XTEST cannot be checked without an X display")
    assert lines["record"].startswith("fail RECORD cannot be checked")
    assert lines["firewall"].startswith("ok no firewall is active")
    assert lines["listen"] == f"ok {machines.person.address}:5967 can be listened on"
    assert lines["addresses"].startswith(
        f"warn an invitation would carry {machines.person.address}: all private")


def test_doctor_without_xtest_says_so(machines: TwoMachines, tmp_path: Path) -> None:
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-nolisten", "tcp",
                               "-noreset", "-extension", "XTEST"], pass_fds=(write,),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    try:
        with os.fdopen(read) as numbers:
            display = f":{numbers.readline().strip()}"
        code, lines = _doctor(machines.person, tmp_path / "person", 5967, DISPLAY=display)
        assert code == 1
        assert lines["display"].startswith(f"ok X display {display} is reachable")
        assert lines["capture"].startswith("ok the screen can be read")
        assert lines["xtest"] == (
            "fail the X server has no XTEST extension: a helper cannot control this screen; "
            'fix: enable XTEST in the X server (Xvfb: +extension XTEST; Xorg: Section '
            '"Extensions" Option "XTEST" "Enable")')
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_firewall_rules_are_judged_as_the_kernel_would(machines: TwoMachines) -> None:
    person = machines.person
    nft(person, """
table inet filter {
    chain input {
        type filter hook input priority 0; policy drop;
        ct state established,related accept
        iifname "lo" accept
        tcp dport { 22, 80 } accept
        tcp dport 5960-5965 drop
        ip saddr 10.0.0.0/8 tcp dport 5970 accept
        jump more
        tcp dport 5980 reject
    }
    chain more { tcp dport 5975-5979 accept; }
}
table ip late {
    chain input { type filter hook input priority 10; policy accept; tcp dport 22 drop; }
}
""")
    script = ("import json,sys; from ra import firewall as f; "
              "print(json.dumps({p: [f.check(p).allows, f.check(p).why] for p in "
              "map(int, sys.argv[1:])}))")
    verdicts = json.loads(person.run(sys.executable, "-c", script, "22", "80", "5962", "5970",
                                     "5977", "5980", "6000").stdout)
    assert verdicts["80"] == [True, "rule 'tcp dport { 22, 80 } accept' in chain inet filter "
                                    "input"]
    # Accepted by the first chain, dropped by a later one: the kernel drops it.
    assert verdicts["22"] == [False, "rule 'tcp dport 22 drop' in chain ip late input"]
    assert verdicts["5962"] == [False, "rule 'tcp dport 5960-5965 drop' in chain inet filter "
                                       "input"]
    assert verdicts["5970"][0] is None and "only some sources" in verdicts["5970"][1]
    assert verdicts["5977"] == [True, "rule 'tcp dport 5975-5979 accept' in chain inet "
                                      "filter more"]
    assert verdicts["5980"] == [False, "rule 'tcp dport 5980 reject' in chain inet filter input"]
    assert verdicts["6000"] == [False, "the policy of chain inet filter input is drop"]


def test_firewall_allow_needs_root_and_prints_the_command(machines: TwoMachines,
                                                          tmp_path: Path) -> None:
    person = machines.person
    drop_port(person, 5968)
    home = tmp_path / "nobody"
    home.mkdir(mode=0o777)
    done = subprocess.run(
        person.argv("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                    sys.executable, "-m", "ra", "firewall", "allow", "--port", "5968"),
        capture_output=True, text=True, env={**_env(home), "PYTHONPATH": os.getcwd()},
        timeout=60)
    # Not root: nothing changes, and the exact command to run as root is printed.
    assert done.returncode == 1, done.stdout
    assert done.stderr == "ra: changing the firewall needs root; run these as root:\n"
    assert done.stdout == "ra firewall allow --port 5968\n"
    assert "ra-allow" not in person.run("nft", "list", "ruleset").stdout
    check = subprocess.run(
        person.argv("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                    sys.executable, "-m", "ra", "firewall", "check", "--port", "5968"),
        capture_output=True, text=True, env={**_env(home), "PYTHONPATH": os.getcwd()},
        timeout=60)
    assert check.stdout == ("WARN  firewall  nftables may not let every connection to port "
                            "5968/tcp in: its rules can be read only as root; run the check "
                            "as root; fix: ra firewall allow --port 5968\n")


def test_doctor_finds_a_dropping_firewall_and_allow_mends_it(
        machines: TwoMachines, tmp_path: Path, spawned: list[pexpect.spawn],
        display: object) -> None:
    person, helper = machines.person, machines.helper
    home, helper_home = tmp_path / "person", tmp_path / "helper"
    screen = str(display.name)  # type: ignore[attr-defined]
    port = 5969
    drop_port(person, port)
    code, lines = _doctor(person, home, port, DISPLAY=screen)
    assert code == 1
    assert lines["firewall"] == (
        f"fail nftables blocks connections to port {port}/tcp: rule 'tcp dport {port} drop' "
        f"in chain inet ratest input; fix: ra firewall allow --port {port}")
    check = _ra(person, home, "firewall", "check", "--port", str(port))
    assert check.returncode == 1 and "nftables blocks" in check.stdout

    created, file, _ = _create(person, home, tmp_path, port=port)
    _ask(person, home, created["id"], spawned, DISPLAY=screen)
    said, _ = _connect_fails(machines, tmp_path, file)
    assert said.startswith(f"ra: no answer from {person.address}:{port} in 5 s")

    allowed = _ra(person, home, "firewall", "allow", "--port", str(port))
    assert allowed.returncode == 0, allowed.stderr
    assert f"rule ra-allow-{port}" in allowed.stdout
    assert f'comment "ra-allow-{port}"' in person.run("nft", "list", "ruleset").stdout
    code, lines = _doctor(person, home, port, DISPLAY=screen)
    assert code == 0, lines
    assert lines["firewall"] == (f"ok nftables lets connections to port {port}/tcp in (rule "
                                 f"'tcp dport {port} accept comment \"ra-allow-{port}\"' in "
                                 "chain inet ratest input)")

    # The session now works end to end between the two machines.
    helper_child = _spawn(helper, helper_home, spawned, "connect", str(file),
                          "--password-stdin", "--no-browser")
    helper_child.sendline(PASSWORD)
    helper_child.expect(rf"connected to {person.address}:{port}")
    asker = spawned[0]
    asker.expect("asks to see your screen")
    asker.expect("Answer y")
    asker.sendline("y")
    asker.expect("can now see your screen")
    helper_child.expect("lets you see the screen")
    helper_child.sendline("/control")
    asker.expect("asks to control your mouse and keyboard")
    asker.expect("Answer y")
    asker.sendline("y")
    asker.expect("now controls your mouse and keyboard")
    helper_child.expect("you now control Alice's mouse and keyboard")
    # Esc on the person's real keyboard (XTEST from outside ra) takes control back.
    subprocess.run(["xdotool", "key", "Escape"], env={**os.environ, "DISPLAY": screen},
                   check=True, timeout=10)
    helper_child.expect("took control back")
    helper_child.sendline("/disconnect")
    helper_child.expect(pexpect.EOF)
    asker.expect(pexpect.EOF)
    with EventStore.open(Home.at(helper_home)) as store:
        from_person = [event for event in store.iter_events(stream_prefix="session:")
                       if event.actor.kind == "person"]
    # The helper's log records which address it reached the person at.
    assert from_person and {event.origin for event in from_person} == {
        f"{person.address}:{port}"}

    removed = _ra(person, home, "firewall", "remove", "--port", str(port))
    assert removed.returncode == 0, removed.stderr
    assert "ra-allow" not in person.run("nft", "list", "ruleset").stdout
    check = _ra(person, home, "firewall", "check", "--port", str(port))
    assert check.returncode == 1 and "nftables blocks" in check.stdout
    events = _firewall_events(home)
    assert [kind for kind, _ in events] == ["firewall.allowed", "firewall.removed"]
    assert events[0][1]["commands"] == [
        f"nft insert rule inet ratest input tcp dport {port} accept comment "
        f"'\"ra-allow-{port}\"'"]


def test_each_address_tried_gets_its_own_line(machines: TwoMachines, tmp_path: Path) -> None:
    person = machines.person
    _, file, _ = _create(person, tmp_path / "person", tmp_path, "--host", "10.99.0.1",
                         "--host", person.address, port=5970)
    said, elapsed = _connect_fails(machines, tmp_path, file)
    assert said.splitlines() == [
        "ra: 10.99.0.1:5970 cannot be reached from this network (network is unreachable): "
        "it may be private to their network",
        f"ra: nobody is waiting on {person.address}:5970: is `ra ask` running on their "
        "machine?",
    ]
    assert elapsed < 4.5
