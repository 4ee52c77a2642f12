"""The guard that keeps the helper's input off the person's window (no display needed)."""

from __future__ import annotations

from ra.desktop.guard import DECORATION, REASON, TITLE_BAR, Rect, WindowGuard


def _guard(focused: bool = False) -> WindowGuard:
    guard = WindowGuard()
    guard.publish([Rect(100, 100, 400, 300)], focused)
    return guard


def test_a_pointer_move_onto_the_window_or_its_frame_is_refused() -> None:
    guard = _guard()
    assert guard.refusal({"kind": "pointer", "x": 300, "y": 250}, (0, 0)) == REASON
    assert guard.refusal({"kind": "pointer", "x": 300, "y": 100 - TITLE_BAR}, (0, 0)) == REASON
    assert guard.refusal({"kind": "pointer", "x": 100 - DECORATION - 1, "y": 250},
                         (0, 0)) is None
    assert guard.refusal({"kind": "pointer", "x": 900, "y": 700}, (0, 0)) is None


def test_a_click_or_a_wheel_step_over_the_window_is_refused() -> None:
    guard = _guard()
    press = {"kind": "button", "button": 1, "down": True}
    assert guard.refusal(press, (300, 250)) == REASON
    assert guard.refusal({"kind": "scroll", "dx": 0, "dy": 3}, (300, 250)) == REASON
    assert guard.refusal(press, (900, 700)) is None
    assert guard.refusal(press, None) == REASON  # pointer unknown: refused to be safe


def test_after_a_refused_move_a_click_is_refused_where_the_pointer_stayed() -> None:
    guard = _guard()
    press = {"kind": "button", "button": 1, "down": True}
    assert guard.refusal({"kind": "pointer", "x": 300, "y": 250}, (900, 700)) == REASON
    assert guard.refusal(press, (900, 700)) == REASON  # aimed at the window
    assert guard.refusal({"kind": "pointer", "x": 950, "y": 700}, (900, 700)) is None
    assert guard.refusal(press, (950, 700)) is None


def test_keys_are_refused_while_the_window_has_the_focus_or_the_pointer() -> None:
    key = {"kind": "key", "key": "Enter", "down": True}
    assert _guard(focused=True).refusal(key, (900, 700)) == REASON
    assert _guard().refusal(key, (300, 250)) == REASON
    assert _guard().refusal(key, (900, 700)) is None


def test_releases_always_pass_so_nothing_stays_held() -> None:
    guard = _guard(focused=True)
    assert guard.refusal({"kind": "key", "key": "Shift", "down": False}, (300, 250)) is None
    assert guard.refusal({"kind": "button", "button": 1, "down": False}, (300, 250)) is None


def test_no_window_refuses_nothing() -> None:
    guard = WindowGuard()
    assert guard.refusal({"kind": "button", "button": 1, "down": True}, (300, 250)) is None
    assert guard.refusal({"kind": "key", "key": "a", "down": True}, None) is None
    guard.publish([Rect(100, 100, 0, 0)], False)  # a window not shown yet
    assert guard.rects == ()
