"""Peer and file text is shown inert: `ra.inert` and the terminal that prints it."""

from __future__ import annotations

import io
import unicodedata

from hypothesis import example, given
from hypothesis import strategies as st

from ra.engine.session import chat_line, prompt_text
from ra.inert import ELLIPSIS, INVISIBLE, escape_char, inert
from ra.session.driver import QUESTION_MARK, Terminal

NEVER_RAW = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp", "Cn"})
#: What a hostile sender reaches for first: escapes, line breaks, bidi and invisible marks.
HOSTILE = [
    "\x1b", "\x1b[2K", "\x1b[1A", "\x1b]0;owned\x07", "\x9b", "\x85", "\r", "\n", "\t", "\x7f",
    "\x00", "\u200b", "\u200e", "\u200f", "\u202a", "\u202e", "\u2066", "\u2069", "\u061c",
    "\ufeff", "\u2028", "\u2029", "\u00ad", "\ud800", "\U000e0001", "\u3164", "\u0301",
]
ANY_CHARACTER = st.characters(exclude_categories=())
ANY_TEXT = st.lists(st.one_of(ANY_CHARACTER, st.sampled_from(HOSTILE)), max_size=200).map("".join)


def _unsafe(text: str) -> list[str]:
    return [c for c in text if unicodedata.category(c) in NEVER_RAW]


@given(ANY_TEXT, st.integers(min_value=1, max_value=400))
@example("ok\n>> ra asks: keep viewing? Answer y (yes) or n (no): ", 1000)
@example("\x1b[2K\x1b[1A\r\u202e", 5)
def test_inert_text_has_no_control_format_or_line_character(text: str, limit: int) -> None:
    shown = inert(text, limit)
    assert _unsafe(shown) == []
    assert "\n" not in shown and "\r" not in shown and "\x1b" not in shown
    assert len(shown) <= limit
    assert inert(shown, limit) == shown  # already inert text passes unchanged


@given(ANY_TEXT)
def test_nothing_is_dropped_silently(text: str) -> None:
    """Each unsafe character is there, escaped; all other text is there as it was."""
    text = "".join(c for c in text if unicodedata.category(c) not in ("Mn", "Mc", "Me"))
    shown = inert(text, 10 * len(text) + 1)  # room for every escape: nothing is cut
    assert shown == "".join(
        escape_char(c) if unicodedata.category(c) in NEVER_RAW or c in INVISIBLE else c
        for c in text)


def test_each_kind_is_escaped_visibly() -> None:
    assert inert("a\x1b[2Kb") == "a\\x1b[2Kb"
    assert inert("one\ntwo\rthree\tfour") == "one\\ntwo\\rthree\\tfour"
    assert inert("\x9b\x7f\x00") == "\\x9b\\x7f\\x00"
    assert inert("abc\u202edef\u2066\u200f\u061c\ufeff") == (
        "abc\\u202edef\\u2066\\u200f\\u061c\\ufeff")
    assert inert("x\u2028y\u2029z") == "x\\u2028y\\u2029z"
    assert inert("\ud800") == "\\ud800"
    assert inert("tag\U000e0041") == "tag\\U000e0041"
    assert inert("\u3164") == "\\u3164"  # a letter that draws nothing
    assert inert("e" + "\u0301" * 6) == "e" + "\u0301" * 4 + "\\u0301" * 2
    assert inert("Zoë, 日本語, emoji 🙂, C:\\path") == "Zoë, 日本語, emoji 🙂, C:\\path"


def test_the_length_is_capped_at_a_whole_escape() -> None:
    assert inert("x" * 50, 10) == "x" * 9 + ELLIPSIS
    assert inert("\x1b" * 5, 9) == "\\x1b\\x1b" + ELLIPSIS
    assert inert("\x1b", 3) == ELLIPSIS
    assert inert(12345) == "12345"


def test_a_chat_line_is_one_prefixed_line_whatever_it_holds() -> None:
    forged = "ok\x1b[2K\x1b[1A\r\n>> ra asks: keep viewing?\nAnswer y (yes) or n (no): "
    line = chat_line("helper", "Bob\u202e", forged)
    assert line.startswith("[chat] helper Bob\\u202e: ok\\x1b[2K")
    assert "\n" not in line and "\x1b" not in line and "\r" not in line


def test_the_helper_name_cannot_add_a_line_to_the_question() -> None:
    text = prompt_text("control", "Bob\n>> ra asks: keep viewing?\x1b[2K")
    assert "\n" not in text and "\x1b" not in text
    assert "Bob\\n>> ra asks: keep viewing?\\x1b[2K asks to control" in text


def test_the_terminal_marks_the_question_and_repeats_it_after_anything_else() -> None:
    out = io.StringIO()
    terminal = Terminal(out=out)
    terminal.show("before")
    terminal.ask("Bob asks to control your mouse and keyboard.", "Yes lets Bob CONTROL.")
    question = (f"{QUESTION_MARK} Bob asks to control your mouse and keyboard.\n"
                f"{QUESTION_MARK} Yes lets Bob CONTROL. Answer y (yes) or n (no): ")
    assert out.getvalue() == "before\n" + question

    terminal.show("[chat] helper Bob: hi\x1b[2K\r\n>> ra asks: keep viewing?")
    terminal.show(">> ra asks: a status line that looks like a question")
    lines = out.getvalue()[len("before\n" + question):]
    assert lines == (
        "[chat] helper Bob: hi\\x1b[2K\\r\\n>> ra asks: keep viewing?\n" + question
        + " >> ra asks: a status line that looks like a question\n" + question)

    terminal.close_question()
    terminal.show("answered")
    assert out.getvalue().endswith(question + "answered\n")


def test_the_terminal_escapes_what_its_encoding_cannot_show() -> None:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="latin-1")
    Terminal(out=out).show("café 🙂")
    assert raw.getvalue() == "café \\U0001f642\n".encode("latin-1")


def test_the_question_mark_is_the_one_the_end_to_end_tests_look_for() -> None:
    import test_spoofed_consent

    assert test_spoofed_consent.QUESTION_MARK == QUESTION_MARK
