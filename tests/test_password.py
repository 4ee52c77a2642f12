"""Invitation password rules and the password generator."""

from __future__ import annotations

import pytest

from ra.invitations import MIN_LENGTH, WeakPasswordError, check_strength, generate_password
from ra.invitations.password import UNAMBIGUOUS_ALPHABET


def reason_for(password: str) -> str:
    with pytest.raises(WeakPasswordError) as caught:
        check_strength(password)
    return caught.value.reason


def test_too_short_says_how_long_and_how_long_it_must_be() -> None:
    assert reason_for("Xk9!mQ2#") == "too short: 8 characters, at least 12 are needed"
    assert reason_for("") == "too short: 0 characters, at least 12 are needed"
    assert reason_for("x") == "too short: 1 character, at least 12 are needed"


def test_exactly_minimum_length_is_enough() -> None:
    password = "Vq7-Rt2!Mz9x"
    assert len(password) == MIN_LENGTH
    check_strength(password)


@pytest.mark.parametrize(
    ("password", "kind"),
    [
        ("vqtrmzxkwpbndh", "lowercase letters"),
        ("VQTRMZXKWPBNDH", "uppercase letters"),
        ("83920174659381", "digits"),
        ("!#%&*(){}[]<>?", "symbols"),
    ],
)
def test_one_kind_of_character_is_refused(password: str, kind: str) -> None:
    reason = reason_for(password)
    assert reason.startswith(f"uses only {kind}:")
    assert "mix in at least one other kind" in reason


@pytest.mark.parametrize(
    "password",
    [
        "Password123!",
        "PASSWORD2024!!",
        "!!Letmein!!2024",
        "Qwerty!!2024",
        "Welcome123456",
        "2024Admin2024",
        "iloveyou...!!",
        "Dragon12345678",
        "MONKEY_1234_",
        "Football#2024",
        "P@ssw0rd2024",
        "!!123456!!!!",
    ],
)
def test_common_passwords_with_digits_or_symbols_around_are_refused(password: str) -> None:
    assert reason_for(password).startswith("too easy to guess: it is a common password or word")


def test_repeated_character_is_refused() -> None:
    assert reason_for("aaaaaaaaaaaaaaaa") == "too easy to guess: it is one character repeated"
    assert reason_for("aAaAaAaAaAaA") == "too easy to guess: it is one character repeated"
    assert reason_for("############") == "too easy to guess: it is one character repeated"


@pytest.mark.parametrize(
    "password",
    ["abcdefghijklmn", "Abcdefghijklmn", "123456789012", "9876543210987", "QWERTYuiopas"],
)
def test_simple_sequences_are_refused(password: str) -> None:
    assert reason_for(password).startswith("too easy to guess: it is a simple sequence")


def test_two_sequences_back_to_back_are_refused() -> None:
    assert reason_for("abcdef123456").startswith("too easy to guess: it is a simple sequence")
    assert reason_for("qwerty654321").startswith("too easy to guess: it is a simple sequence")


def test_short_pattern_repeated_is_refused() -> None:
    assert reason_for("Ab1!Ab1!Ab1!") == "too easy to guess: it is a short pattern repeated"


def test_the_reason_never_quotes_the_password() -> None:
    for password in ("Password123!", "abcdefghijklmn", "vqtrmzxkwpbndh", "Xk9!mQ2#"):
        with pytest.raises(WeakPasswordError) as caught:
            check_strength(password)
        assert password.lower() not in str(caught.value).lower()
        assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "password",
    ["correct-Horse-battery-7", "Tr0ub4dor&3xx", "my cat Felix ate 3 socks", "Vq7-Rt2!Mz9x"],
)
def test_reasonable_passwords_pass(password: str) -> None:
    check_strength(password)


def test_generated_passwords_pass_and_are_unique() -> None:
    seen = set()
    for _ in range(500):
        password = generate_password()
        check_strength(password)
        groups = password.split("-")
        assert len(groups) == 4
        assert all(len(group) == 5 for group in groups)
        assert set("".join(groups)) <= set(UNAMBIGUOUS_ALPHABET)
        seen.add(password)
    assert len(seen) == 500


def test_generator_alphabet_has_no_look_alikes() -> None:
    assert not set("0O1lIio") & set(UNAMBIGUOUS_ALPHABET)
