"""`ra doctor`: can a helper on another machine reach this one, see it and control it?

Each check is one `Check`: a name, a status (``ok``, ``warn``: works but worth
knowing, ``fail``: a session will not work as it should), one line saying
what was found, and for a failure the fix. The checks, in the order a session
needs them:

- display: ``$DISPLAY`` names an X display that accepts a connection;
- capture: the screen can be read (and whether MIT-SHM makes it fast);
- xtest: the XTEST extension, through which a helper's input is injected;
- record: the RECORD extension, through which Esc is watched;
- addresses: what an invitation would carry, and whether any is public;
- listen: the port can be bound on each of those addresses (or something,
  `ra ask` presumably, already listens there);
- firewall: the firewall in use and whether it lets a connection to the port
  in (`ra.firewall`);
- clock: the year is plausible and, where ``timedatectl`` can tell, NTP has
  synchronised it: an invitation's expiry is judged by this clock.

Checks never change anything; each runs on its own, so one failing (no
display) does not hide the others.
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from ra.firewall import Runner, run_command
from ra.firewall import check as check_firewall
from ra.net.addresses import bind_problem, interface_addresses, kind_of, order
from ra.net.dial import format_address

Status = Literal["ok", "warn", "fail"]
YEARS = range(2024, 2100)


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    line: str
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "line": self.line, "fix": self.fix}

    def render(self) -> str:
        fix = f"; fix: {self.fix}" if self.fix and self.status != "ok" else ""
        return f"{self.status.upper():<4}  {self.name:<9} {self.line}{fix}"


#: The X extensions ra needs: (check, extension, what it gives, what is lost without it,
#: how to enable it).
_EXTENSIONS = (
    ("xtest", "XTEST", "a helper's input can be injected", "a helper cannot control this screen",
     'Xvfb: +extension XTEST; Xorg: Section "Extensions" Option "XTEST" "Enable"'),
    ("record", "RECORD", "your Esc takes control back",
     "Esc cannot be watched, so control cannot be allowed",
     'Xvfb: +extension RECORD; Xorg: Section "Module" Load "record"'),
)


def _no_display(failed: Check, skipped: str) -> list[Check]:
    """The display check that failed, then the checks that `skipped` without a display."""
    first = "first make the display reachable (above)"
    return [failed, Check("capture", "fail", f"screen capture {skipped}", first),
            *(Check(name, "fail", f"{extension} {skipped}", first)
              for name, extension, *_ in _EXTENSIONS)]


def _display_checks(display: str | None) -> list[Check]:
    if not display:
        why = ("this is a Wayland session without X ($WAYLAND_DISPLAY is set)"
               if os.environ.get("WAYLAND_DISPLAY") else "$DISPLAY is not set")
        fix = "run ra in your desktop session (an X11 session), or pass --display :N"
        return _no_display(Check("display", "fail", f"no X display: {why}", fix),
                           "cannot be checked without an X display")
    from Xlib import display as xdisplay  # type: ignore[import-untyped]

    try:
        connection = xdisplay.Display(display)
    except Exception as exc:  # python-xlib raises assorted errors for a dead display
        fix = f"start the X server for {display}, or point $DISPLAY at a running one"
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return _no_display(
            Check("display", "fail", f"cannot open X display {display}: {detail}", fix),
            f"cannot be checked: display {display} does not answer")
    try:
        screen = connection.screen()
        size = f"{screen.width_in_pixels}x{screen.height_in_pixels}"
        extensions = set(connection.list_extensions())
        checks = [Check("display", "ok", f"X display {display} is reachable ({size})")]
        checks.append(_capture(display, "MIT-SHM" in extensions))
        for name, extension, gives, without, enable in _EXTENSIONS:
            checks.append(
                Check(name, "ok", f"{extension} is there: {gives}") if extension in extensions
                else Check(name, "fail", f"the X server has no {extension} extension: {without}",
                           f"enable {extension} in the X server ({enable})"))
        return checks
    finally:
        with contextlib.suppress(Exception):
            connection.close()


def _capture(display: str, shm: bool) -> Check:
    from ra.desktop.capture import Screen

    try:
        with Screen(display) as screen:
            frame = screen.grab()
    except Exception as exc:
        return Check("capture", "fail", f"the screen cannot be read: {exc}",
                     "check that this user may use the display (xhost, XAUTHORITY)")
    speed = "MIT-SHM on" if shm else "MIT-SHM off: capture is slower"
    return Check("capture", "ok", f"the screen can be read ({frame.shape[1]}x"
                 f"{frame.shape[0]}, {speed})")


def _address_checks(port: int) -> list[Check]:
    found = [one.address for one in order(interface_addresses())]
    if not found:
        return [Check("addresses", "fail", "this machine has no network address but loopback",
                      "connect to a network; or invite with --host 127.0.0.1 to try ra "
                      "on this machine alone")]
    public = [address for address in found if kind_of(address) == "public"]
    shown = ", ".join(found)
    if public:
        checks = [Check("addresses", "ok", f"an invitation would carry {shown}; "
                        f"{public[0]} is public")]
    else:
        checks = [Check("addresses", "warn", f"an invitation would carry {shown}: all "
                        "private, so only a helper on this network can reach them",
                        "for a helper elsewhere, forward the port on your router or use a "
                        "VPN, and invite with --host YOUR-PUBLIC-ADDRESS")]
    for address in found:
        where = format_address(address, port)
        problem = bind_problem(address, port)
        if problem is None:
            checks.append(Check("listen", "ok", f"{where} can be listened on"))
        elif _listening(address, port):
            checks.append(Check("listen", "ok", f"something already listens on {where} "
                                "(`ra ask`, if it is running)"))
        else:
            checks.append(Check("listen", "fail", f"{where}: {problem}",
                                "stop what holds the port, or invite with another --port"))
    return checks


def _listening(address: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((address, port), 1):
        return True
    return False


def _firewall_check(port: int, runner: Runner) -> Check:
    finding = check_firewall(port, runner)
    line = finding.line(port)
    if finding.allows:
        return Check("firewall", "ok", line)
    fix = f"ra firewall allow --port {port}"
    return Check("firewall", "fail" if finding.allows is False else "warn", line, fix)


def _clock_check(now: datetime, runner: Runner) -> Check:
    stamp = now.strftime("%Y-%m-%d %H:%M UTC")
    if now.year not in YEARS:
        return Check("clock", "fail", f"the clock says {stamp}, which cannot be right: "
                     "invitations would expire at the wrong time",
                     "set the clock (timedatectl set-ntp true)")
    ran = runner(["timedatectl", "show", "-p", "NTPSynchronized", "--value"])
    synced = ran.out.strip() if ran is not None and ran.code == 0 else ""
    if synced == "no":
        return Check("clock", "warn", f"the clock says {stamp} but is not synchronised (NTP)",
                     "timedatectl set-ntp true")
    note = " and synchronised (NTP)" if synced == "yes" else ""
    return Check("clock", "ok", f"the clock says {stamp}{note}")


def run_checks(port: int, display: str | None, *,
               clock: Callable[[], datetime] = lambda: datetime.now(UTC),
               runner: Runner = run_command) -> list[Check]:
    """Every check, in order."""
    return [*_display_checks(display), *_address_checks(port), _firewall_check(port, runner),
            _clock_check(clock(), runner)]


def firewall_only(port: int, runner: Runner = run_command) -> list[Check]:
    return [_firewall_check(port, runner)]


__all__ = ["Check", "firewall_only", "run_checks"]
