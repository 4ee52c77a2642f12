"""The host firewall, as a helper's connection to `ra ask` meets it: an adapter.

`check(port)` finds the firewall in use and judges whether a new TCP
connection from another machine to `port` gets in:

- firewalld (``firewall-cmd --state`` is running): is the port open in the
  default zone (``--query-port``);
- ufw (``ufw status verbose`` is active): the first rule naming the port,
  else the default incoming policy;
- nftables (``nft -j list ruleset`` has a filter chain on the input hook):
  every such chain, lowest priority first, is walked as the kernel would for a
  new connection arriving on a network interface (not loopback): matches on
  ``tcp dport``/``th dport`` (a number, set or range), the L4 protocol,
  ``ct state``, ``iifname "lo"`` and the family are judged; a match on
  anything else (a source address, say) makes the rule uncertain. ``jump``
  and ``goto`` are followed; ``accept`` ends one chain but the next chain
  still sees the packet; ``drop`` or ``reject`` ends it; a chain that ends
  without a verdict applies its policy;
- iptables in legacy mode (``iptables -S INPUT``) the same way, simply;
  iptables over nf_tables already shows in the nftables ruleset.

The answer is a `Finding`: the tool, whether it lets the connection in (True,
False, or None when it cannot tell, e.g. only some sources are let in) and
one line saying why (the rule or the policy that decides).

`allow_commands` and `remove_commands` are the exact commands for the tool in
use. A rule ra adds is named ``ra-allow-<port>`` (an nftables or iptables
comment, a ufw comment) so that `remove_commands` finds it again; firewalld
opens the port for the running configuration only (until the next reload).
The commands run only as root (`run`); otherwise the CLI prints them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ra.errors import RaError

Runner = Callable[[Sequence[str]], "Ran | None"]


class FirewallError(RaError):
    """A firewall command failed; the message carries its own words."""


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


def run_command(argv: Sequence[str]) -> Ran | None:
    """Run one command (None: it is not installed)."""
    if shutil.which(argv[0]) is None:
        return None
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=15,
                              check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return Ran(127, "", str(exc))
    return Ran(done.returncode, done.stdout, done.stderr)


def rule_name(port: int) -> str:
    return f"ra-allow-{port}"


@dataclass(frozen=True)
class Finding:
    """What the firewall in use does with a new connection to the port."""

    tool: str | None  # nftables, iptables, ufw, firewalld; None: no firewall found
    allows: bool | None
    why: str
    chains: tuple[tuple[str, str, str], ...] = field(default=())
    """nftables: the input chains (family, table, chain) that do not let it in."""

    def line(self, port: int) -> str:
        if self.tool is None:
            return f"no firewall is active: port {port}/tcp is open ({self.why})"
        if self.allows:
            return f"{self.tool} lets connections to port {port}/tcp in ({self.why})"
        if self.allows is None:
            return f"{self.tool} may not let every connection to port {port}/tcp in: {self.why}"
        return f"{self.tool} blocks connections to port {port}/tcp: {self.why}"


# --------------------------------------------------------------------------
# nftables.

_VERDICTS = ("accept", "drop", "reject", "jump", "goto", "return", "queue")
_IGNORED = ("counter", "log", "comment", "notrack")


def _port_in(right: Any, port: int) -> bool | None:
    if isinstance(right, int):
        return right == port
    if isinstance(right, Mapping):
        if "set" in right:
            return any(_port_in(item, port) for item in right["set"])
        if "range" in right:
            low, high = right["range"]
            return isinstance(low, int) and isinstance(high, int) and low <= port <= high
        return None
    if isinstance(right, list):
        return any(_port_in(item, port) for item in right)
    return None


def _words(right: Any) -> set[str] | None:
    if isinstance(right, (str, int)):
        return {str(right)}
    if isinstance(right, list):
        return {str(item) for item in right}
    if isinstance(right, Mapping) and "set" in right:
        return {str(item) for item in right["set"]}
    return None


def _judge(match: Mapping[str, Any], port: int, family: int) -> tuple[bool | None, bool]:
    """(does a new outside TCP connection to `port` match, does it name the port)."""
    op = match.get("op", "==")
    left, right = match.get("left"), match.get("right")
    result: bool | None = None
    names_port = False
    if isinstance(left, Mapping) and "payload" in left:
        payload = left["payload"]
        proto, fld = payload.get("protocol"), payload.get("field")
        if fld == "dport" and proto in ("tcp", "th"):
            result, names_port = _port_in(right, port), True
        elif proto in ("udp", "icmp", "icmpv6", "sctp", "dccp", "udplite"):
            result = False
        elif proto in ("ip", "ip6") and fld in ("protocol", "nexthdr"):
            words = _words(right)
            result = None if words is None else bool(words & {"tcp", "6"})
    elif isinstance(left, Mapping) and "meta" in left:
        key = left["meta"].get("key")
        words = _words(right)
        if key == "l4proto" and words is not None:
            result = bool(words & {"tcp", "6"})
        elif key in ("iifname", "iif") and words == {"lo"}:
            result = False
        elif key == "nfproto" and words is not None:
            result = f"ipv{family}" in words
        elif key == "iiftype" and words is not None:
            result = "loopback" not in words
    elif isinstance(left, Mapping) and "ct" in left and left["ct"].get("key") == "state":
        words = _words(right)
        result = None if words is None else "new" in words
    if result is not None and op == "!=":
        result = not result
    elif result is not None and op not in ("==", "in"):
        result = None
    return result, names_port


@dataclass
class _Walk:
    rules: dict[tuple[str, str, str], list[dict[str, Any]]]
    port: int
    family: int
    text: Callable[[tuple[str, str, str], int], str]
    maybe_accept: list[str] = field(default_factory=list)
    maybe_block: list[str] = field(default_factory=list)

    def chain(self, key: tuple[str, str, str], depth: int = 0) -> tuple[str, str] | None:
        """(verdict, why) for the chain, or None when it ends without one."""
        if depth > 16:
            return None
        for rule in self.rules.get(key, []):
            certain, names_port, verdict = True, False, None
            for expr in rule.get("expr", []):
                name = next(iter(expr)) if isinstance(expr, Mapping) and expr else None
                if name == "match":
                    result, named = _judge(expr["match"], self.port, self.family)
                    names_port = names_port or named
                    if result is False:
                        certain, verdict = False, None
                        break
                    if result is None:
                        certain = False
                elif name in _VERDICTS:
                    verdict = (name, expr[name])
                    break
                elif name not in _IGNORED:
                    certain = False  # limit, lookup, xt...: cannot judge
            if verdict is None:
                continue
            kind, arg = verdict
            where = self.text(key, int(rule.get("handle", 0)))
            if not certain:
                if names_port and kind == "accept":
                    self.maybe_accept.append(where)
                elif names_port and kind in ("drop", "reject"):
                    self.maybe_block.append(where)
                continue
            if kind in ("accept", "drop", "reject", "queue"):
                return kind, where
            if kind == "return":
                return None
            if kind in ("jump", "goto") and isinstance(arg, Mapping):
                target = (key[0], key[1], str(arg.get("target")))
                found = self.chain(target, depth + 1)
                if found is not None or kind == "goto":
                    return found
        return None


def _rule_texts(listing: str) -> dict[tuple[str, str, str, int], str]:
    """``nft -a list ruleset`` text: each rule's own words, by (family, table, chain, handle)."""
    texts: dict[tuple[str, str, str, int], str] = {}
    table = chain = ("", "")
    for raw in listing.splitlines():
        line = raw.strip()
        if line.startswith("table "):
            parts = line.split()
            table = (parts[1], parts[2]) if len(parts) > 3 else ("", "")
        elif line.startswith("chain "):
            chain = (line.split()[1], "")
        else:
            found = re.search(r"^(.*?)\s*# handle (\d+)$", line)
            if found and table[0] and found.group(1) and not line.startswith(("type ",)):
                texts[(table[0], table[1], chain[0], int(found.group(2)))] = found.group(1)
    return texts


def judge_nftables(ruleset: Mapping[str, Any], port: int, listing: str = "",
                   family: int = 4) -> Finding | None:
    """The nftables ruleset's verdict on a new connection to `port` (None: no input chain)."""
    items = ruleset.get("nftables", [])
    families = {"inet", "ip" if family == 4 else "ip6"}
    bases: list[dict[str, Any]] = []
    rules: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
    for item in items:
        if "chain" in item:
            chain = item["chain"]
            if (chain.get("hook") == "input" and chain.get("type") == "filter"
                    and chain.get("family") in families):
                bases.append(chain)
        elif "rule" in item:
            rule = item["rule"]
            rules[(rule["family"], rule["table"], rule["chain"])].append(rule)
    if not bases:
        return None
    texts = _rule_texts(listing)

    def text(key: tuple[str, str, str], handle: int) -> str:
        words = texts.get((*key, handle))
        where = f"chain {' '.join(key)}"
        return f"rule '{words}' in {where}" if words else f"rule {handle} in {where}"

    walk = _Walk(rules, port, family, text)
    accepted = ""
    blocking: list[tuple[str, str, str]] = []
    first_block = ""
    for base in sorted(bases, key=lambda c: int(c.get("prio", 0))):
        key = (str(base["family"]), str(base["table"]), str(base["name"]))
        found = walk.chain(key)
        if found is None:
            policy = str(base.get("policy", "accept"))
            found = (policy, f"the policy of chain {' '.join(key)} is {policy}")
        verdict, why = found
        if verdict == "accept":
            accepted = accepted or why
            continue
        blocking.append(key)
        first_block = first_block or why
    if blocking:
        if walk.maybe_accept:
            return Finding("nftables", None, f"only some sources are let in by "
                           f"{walk.maybe_accept[0]}; others meet {first_block}", tuple(blocking))
        return Finding("nftables", False, first_block, tuple(blocking))
    if walk.maybe_block:
        return Finding("nftables", None, f"{walk.maybe_block[0]} blocks some sources")
    return Finding("nftables", True, accepted)


def _nftables(port: int, runner: Runner) -> Finding | None:
    ran = runner(["nft", "-j", "list", "ruleset"])
    if ran is None:
        return None
    if ran.code != 0:
        if "not permitted" in ran.err.lower() or "permission" in ran.err.lower():
            return Finding("nftables", None, "its rules can be read only as root; "
                           "run the check as root")
        return None
    try:
        ruleset = json.loads(ran.out or "{}")
    except ValueError:
        return Finding("nftables", None, "its rules could not be read (nft -j)")
    listing = runner(["nft", "-a", "list", "ruleset"])
    return judge_nftables(ruleset, port, listing.out if listing and listing.code == 0 else "")


# --------------------------------------------------------------------------
# ufw, firewalld, iptables (legacy).


def _ufw(port: int, runner: Runner) -> Finding | None:
    ran = runner(["ufw", "status", "verbose"])
    if ran is None or ran.code != 0 or "Status: active" not in ran.out:
        return None
    for line in ran.out.splitlines():
        parts = line.split()
        if len(parts) < 2 or "(v6)" in parts[0]:
            continue
        spec = parts[0].split("/")
        if len(spec) == 2 and spec[1] != "tcp":
            continue
        low, _, high = spec[0].partition(":")
        if not (low.isdigit() and int(low) <= port <= int(high or low)):
            continue
        action = parts[1].upper()
        return Finding("ufw", action == "ALLOW", f"rule '{' '.join(parts)}'")
    found = re.search(r"Default: (\w+) \(incoming\)", ran.out)
    policy = found.group(1) if found else "deny"
    return Finding("ufw", policy == "allow", f"the default incoming policy is {policy}")


def _firewalld(port: int, runner: Runner) -> Finding | None:
    ran = runner(["firewall-cmd", "--state"])
    if ran is None or ran.out.strip() != "running":
        return None
    query = runner(["firewall-cmd", f"--query-port={port}/tcp"])
    if query is not None and query.out.strip() == "yes":
        return Finding("firewalld", True, f"port {port}/tcp is open in the default zone")
    return Finding("firewalld", False, f"port {port}/tcp is not open in the default zone")


def _iptables(port: int, runner: Runner) -> Finding | None:
    version = runner(["iptables", "-V"])
    if version is None or "nf_tables" in version.out:
        return None  # not installed, or its rules are in the nftables ruleset
    ran = runner(["iptables", "-S", "INPUT"])
    if ran is None or ran.code != 0:
        return None
    policy = "ACCEPT"
    for line in ran.out.splitlines():
        words = line.split()
        if words[:2] == ["-P", "INPUT"] and len(words) > 2:
            policy = words[2]
            continue
        if words[:2] != ["-A", "INPUT"] or "-j" not in words:
            continue
        target = words[words.index("-j") + 1]
        options = dict(zip(words[2::2], words[3::2], strict=False))
        if options.get("-i") == "lo" or options.get("-p", "tcp") not in ("tcp", "all"):
            continue
        if "--ctstate" in words and "NEW" not in words[words.index("--ctstate") + 1]:
            continue
        dport = options.get("--dport")
        if dport is not None:
            low, _, high = dport.partition(":")
            if not (low.isdigit() and int(low) <= port <= int(high or low)):
                continue
        if "-s" in options or "-d" in options:
            continue
        if target in ("ACCEPT", "DROP", "REJECT"):
            return Finding("iptables", target == "ACCEPT", f"rule '{line}'")
    if policy == "ACCEPT":
        return None if ran.out.count("\n") <= 1 else Finding(
            "iptables", True, "the INPUT policy is ACCEPT")
    return Finding("iptables", False, f"the INPUT policy is {policy}")


def check(port: int, runner: Runner = run_command) -> Finding:
    """The firewall in use and what it does with a new connection to `port`."""
    for probe in (_firewalld, _ufw, _nftables, _iptables):
        found = probe(port, runner)
        if found is not None:
            return found
    return Finding(None, True, "no firewall rules on the input path")


# --------------------------------------------------------------------------
# Allow and remove.


def allow_commands(port: int, finding: Finding) -> list[list[str]]:
    """The commands that let connections to `port` in, for the tool in use."""
    name = rule_name(port)
    if finding.allows or finding.tool is None:
        return []
    if finding.tool == "nftables" and not finding.chains:
        return []  # its rules could not be read, or no chain to change: see the CLI
    if finding.tool == "nftables":
        return [["nft", "insert", "rule", *key, "tcp", "dport", str(port), "accept",
                 "comment", f'"{name}"'] for key in finding.chains]
    if finding.tool == "ufw":
        return [["ufw", "allow", f"{port}/tcp", "comment", name]]
    if finding.tool == "firewalld":
        return [["firewall-cmd", f"--add-port={port}/tcp"]]
    return [["iptables", "-I", "INPUT", "-p", "tcp", "--dport", str(port), "-m", "comment",
             "--comment", name, "-j", "ACCEPT"]]


def remove_commands(port: int, runner: Runner = run_command) -> tuple[str | None,
                                                                     list[list[str]]]:
    """(the tool, the commands that take ra's rule for `port` out again)."""
    name = rule_name(port)
    for probe in (_firewalld, _ufw):
        found = probe(port, runner)
        if found is not None and found.tool == "firewalld":
            return "firewalld", [["firewall-cmd", f"--remove-port={port}/tcp"]]
        if found is not None and found.tool == "ufw":
            return "ufw", [["ufw", "delete", "allow", f"{port}/tcp"]]
    ran = runner(["nft", "-j", "list", "ruleset"])
    if ran is not None and ran.code == 0:
        commands = []
        for item in json.loads(ran.out or "{}").get("nftables", []):
            rule = item.get("rule")
            if rule is not None and rule.get("comment") == name:
                commands.append(["nft", "delete", "rule", rule["family"], rule["table"],
                                 rule["chain"], "handle", str(rule["handle"])])
        if commands:
            return "nftables", commands
    listing = runner(["iptables", "-S", "INPUT"])
    if listing is not None and name in listing.out:
        return "iptables", [["iptables", "-D", "INPUT", "-p", "tcp", "--dport", str(port),
                             "-m", "comment", "--comment", name, "-j", "ACCEPT"]]
    return None, []


def is_root() -> bool:
    return os.geteuid() == 0


def run(commands: Sequence[Sequence[str]], runner: Runner = run_command) -> None:
    """Run each command; the first that fails raises FirewallError with its words."""
    for argv in commands:
        ran = runner(argv)
        if ran is None:
            raise FirewallError(f"{argv[0]} is not installed")
        if ran.code != 0:
            words = (ran.err or ran.out).strip().splitlines()
            raise FirewallError(f"{' '.join(argv)} failed: {words[0] if words else ran.code}")


def shell(argv: Sequence[str]) -> str:
    """A command as one line to paste in a root shell."""
    import shlex

    return " ".join(shlex.quote(word) for word in argv)


__all__ = ["Finding", "FirewallError", "allow_commands", "check", "is_root",
           "judge_nftables", "remove_commands", "rule_name", "run", "shell"]
