"""The virtual displays and terminals the demo, tests and benchmarks run on (real Xvfb, xterm)."""

from __future__ import annotations

import pytest
from desktop_support import Display, xterm
from Xlib import X, Xatom
from Xlib import display as xdisplay

from ra.desktop.xvfb import XvfbError


def test_a_display_keeps_its_state_when_its_last_client_leaves(display: Display) -> None:
    # An X server resets when its last client leaves unless told not to; a
    # reset drops root window properties (and RandR monitors), and a client
    # connecting meanwhile can be turned away.
    first = xdisplay.Display(display.name)
    name = first.intern_atom("RA_TEST_MARK")
    first.screen().root.change_property(name, Xatom.STRING, 8, b"still here")
    first.sync()
    first.close()  # the only client: without -noreset the server resets now
    second = xdisplay.Display(display.name)
    try:
        name = second.intern_atom("RA_TEST_MARK")
        kept = second.screen().root.get_full_property(name, X.AnyPropertyType)
        assert kept is not None and bytes(kept.value) == b"still here"
    finally:
        second.close()


def test_an_xterm_that_fails_to_start_says_why(display: Display) -> None:
    with pytest.raises(XvfbError, match=r'exited \(status 1\).*bad command line option'), \
            xterm(display, "-no-such-option"):
        pass


def test_an_xterm_opens_its_window(display: Display) -> None:
    with xterm(display, "-e", "sleep", "30") as proc:
        assert proc.poll() is None
