"""`ra doctor` (can a helper reach, see and control this machine?) and `ra firewall`.

Both read ``ra.doctor`` and ``ra.firewall`` and render: one line per check,
``--json`` for scripts, exit 0 when nothing failed and 1 when something did.
`ra firewall allow` and `remove` change the firewall only as root (otherwise
they print the exact commands and exit 1), and each change is recorded as an
event (``firewall.allowed``, ``firewall.removed``) on the stream
``host:firewall`` of this machine's log.

The checks, the firewall tools, the network stack and the log are imported
inside the commands that use them: the command tree is built on every start.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ra.cli.common import (
    DEFAULT_PORT,
    HomeOption,
    JsonOption,
    PortOption,
    display_option,
    emit_json,
    group,
    open_store,
    say,
    warn,
)

if TYPE_CHECKING:
    from ra.doctor import Check

FIREWALL_STREAM = "host:firewall"


def _render(checks: list[Check], json_out: bool) -> None:
    failed = any(check.status == "fail" for check in checks)
    if json_out:
        emit_json({"ok": not failed, "checks": [check.to_json() for check in checks]})
    else:
        for check in checks:
            say(check.render())
    if failed:
        raise typer.Exit(1)


def doctor(
    port: PortOption = DEFAULT_PORT,
    display: Annotated[str | None, display_option("check")] = None,
    json_out: JsonOption = False,
) -> None:
    """Check that a helper on another machine can reach, see and control this one.

    One line per check (display, screen capture, XTEST, RECORD, addresses,
    listening, firewall, clock), with the fix for each that fails. Exits 0
    when none failed, 1 otherwise.

    Example:

    \b
        ra doctor --port 5960
        ra doctor --json
    """
    from ra.doctor import run_checks

    _render(run_checks(port, display), json_out)


app = group("Check the host firewall for `ra ask`'s port, and open or close it.")


@app.command()
def check(port: PortOption = DEFAULT_PORT, json_out: JsonOption = False) -> None:
    """Say which firewall is active and whether it lets helpers in on the port.

    Example:

    \b
        ra firewall check --port 5960
    """
    from ra.doctor import firewall_only

    _render(firewall_only(port), json_out)


def _change(commands: list[list[str]], tool: str | None, port: int, event: str,
            home: Path | None, done: str) -> None:
    from ra import firewall as fw
    from ra.events import NewEvent
    from ra.invitations.service import local_person

    if not fw.is_root():
        warn("ra: changing the firewall needs root; run these as root:")
        for argv in commands:
            say(fw.shell(argv))
        raise typer.Exit(1)
    fw.run(commands)
    with open_store(home) as store:
        store.append(FIREWALL_STREAM, store.stream_version(FIREWALL_STREAM), [NewEvent(
            event, {"tool": tool or "", "port": port, "rule": fw.rule_name(port),
                    "commands": [fw.shell(argv) for argv in commands]},
            local_person())])
    say(done)


@app.command()
def allow(port: PortOption = DEFAULT_PORT, home: HomeOption = None) -> None:
    """Add a rule that lets helpers in on the port, with the firewall in use.

    The rule is named ra-allow-PORT, so `ra firewall remove` finds it. As
    root it is added and recorded in your log; otherwise the exact command
    to run as root is printed.

    Example:

    \b
        ra firewall allow --port 5960
    """
    from ra import firewall as fw

    finding = fw.check(port)
    if finding.allows:
        say(finding.line(port) + "; nothing to do")
        return
    commands = fw.allow_commands(port, finding)
    if not commands and not fw.is_root():
        warn("ra: changing the firewall needs root; run these as root:")
        say(f"ra firewall allow --port {port}")
        raise typer.Exit(1)
    if not commands:
        raise fw.FirewallError(f"{finding.line(port)}; ra cannot tell which rule to add, "
                               "so add one by hand")
    _change(commands, finding.tool, port, "firewall.allowed", home,
            f"{finding.tool} now lets connections to port {port}/tcp in "
            f"(rule {fw.rule_name(port)}); `ra firewall remove --port {port}` takes it out")


@app.command()
def remove(port: PortOption = DEFAULT_PORT, home: HomeOption = None) -> None:
    """Take out the rule `ra firewall allow` added for the port.

    As root the rule is taken out and recorded in your log; otherwise the
    exact command to run as root is printed.

    Example:

    \b
        ra firewall remove --port 5960
    """
    from ra import firewall as fw

    tool, commands = fw.remove_commands(port)
    if not commands:
        say(f"no rule {fw.rule_name(port)} was found; nothing to do")
        return
    _change(commands, tool, port, "firewall.removed", home,
            f"rule {fw.rule_name(port)} is out of {tool}")


__all__ = ["app", "doctor"]
