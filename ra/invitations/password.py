"""Invitation password rules and a generator for passwords that follow them.

The password never goes into the invitation file or the email: the person who
asks for help tells it to the helper by another channel (phone, in person).
Because the session key is agreed with a PAKE, a guess can only be tried
online, one attempt per connection; these rules refuse the passwords that
would fall to the first few guesses anyway.
"""

from __future__ import annotations

import secrets

from ra.invitations.errors import WeakPasswordError

MIN_LENGTH = 12
"""Fewest characters an invitation password may have."""

GROUPS = 4
GROUP_SIZE = 5
SEPARATOR = "-"
UNAMBIGUOUS_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
"""Letters and digits without the look-alikes 0/O/o, 1/l/I/i."""

# A short list of the passwords and words people reach for first. It is
# meant to catch the obvious, not to be a full dictionary.
_COMMON = frozenset(
    """
    password passw0rd p@ssword p@ssw0rd pass passwd password1 secret secret1 letmein
    qwerty qwertyuiop qwertz azerty asdf asdfgh asdfghjkl zxcvbn zxcvbnm qazwsx
    welcome welcome1 admin administrator root toor login user guest default test
    tester testing changeme master iloveyou loveyou lovely love lover dragon monkey
    football baseball basketball soccer hockey golf tennis superman batman spiderman
    starwars pokemon princess sunshine shadow michael jennifer jordan hunter ranger
    harley thomas charlie george andrew daniel robert william matthew joshua jessica
    ashley amanda nicole michelle daniel buster tigger ginger pepper maggie bailey
    cookie chocolate cheese banana orange apple summer winter spring autumn freedom
    whatever trustno1 killer hello hello1 computer internet google facebook linux
    ubuntu windows microsoft samsung iphone android abc abcdef abcdefg abcdefgh
    abc123 qwerty123 aa123456 mustang corvette ferrari porsche mercedes yamaha harley
    flower garden family friends friend forever angel angels blessed jesus christ
    heaven happy smile purple yellow silver golden diamond secret123 nothing
    something anything everything access service support remote assist helpme help
    mypassword mypass yourpassword passpass letmein1 open sesame opensesame
    matrix ninja samurai warrior wizard merlin gandalf phoenix falcon eagle tiger
    lion panther jaguar dolphin butterfly snoopy mickey minnie donald pluto
    liverpool chelsea arsenal barcelona madrid juventus lakers yankees cowboys
    steelers eagles packers patriots raiders zaq1zaq1 1qaz2wsx qweasd qweasdzxc
    123456 1234567 12345678 123456789 1234567890 12345 1234 123123 111111 000000
    666666 121212 654321 112233 123321 987654321 11111111 88888888 696969 7777777
    """.split()
)

_SEQUENCES = (
    "abcdefghijklmnopqrstuvwxyz",
    "0123456789" * 2,
    "qwertyuiop",
    "asdfghjkl",
    "zxcvbnm",
    "qazwsxedcrfvtgbyhnujmikolp",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
    "1q2w3e4r5t6y7u8i9o0p",
)
_SEQUENCES_BOTH_WAYS = _SEQUENCES + tuple(s[::-1] for s in _SEQUENCES)

_LEET = str.maketrans(
    {
        "@": "a",
        "4": "a",
        "0": "o",
        "1": "i",
        "!": "i",
        "3": "e",
        "$": "s",
        "5": "s",
        "7": "t",
        "+": "t",
        "8": "b",
        "9": "g",
    }
)


def _kind(char: str) -> str:
    if char.islower():
        return "lowercase letters"
    if char.isupper():
        return "uppercase letters"
    if char.isdigit():
        return "digits"
    return "symbols"


_KINDS = ("lowercase letters", "uppercase letters", "digits", "symbols")


def _others(kind: str) -> str:
    rest = [other for other in _KINDS if other != kind]
    return f"{', '.join(rest[:-1])} or {rest[-1]}"


def _strip_ends(text: str, keep: str) -> str:
    """Drop characters from both ends until one of kind ``keep`` ('letters' or 'digits')."""
    wanted = str.isalpha if keep == "letters" else str.isdigit
    start, end = 0, len(text)
    while start < end and not wanted(text[start]):
        start += 1
    while end > start and not wanted(text[end - 1]):
        end -= 1
    return text[start:end]


def _is_common(password: str) -> bool:
    """A listed word, maybe in another case, maybe with digits/symbols around it."""
    lowered = password.casefold()
    core = _strip_ends(lowered, "letters")
    if core:
        return core in _COMMON or core.translate(_LEET) in _COMMON
    # No letters at all: look at the digits between any symbols.
    digits = _strip_ends(lowered, "digits")
    return digits in _COMMON


def _run_end(text: str, start: int) -> int:
    """Index just past the longest repeat or keyboard/alphabet run starting at ``start``."""
    best = start + 1
    end = start + 1
    while end < len(text) and text[end] == text[start]:
        end += 1
    best = max(best, end)
    for sequence in _SEQUENCES_BOTH_WAYS:
        position = sequence.find(text[start])
        while position != -1:
            length = 1
            while (
                start + length < len(text)
                and position + length < len(sequence)
                and sequence[position + length] == text[start + length]
            ):
                length += 1
            best = max(best, start + length)
            position = sequence.find(text[start], position + 1)
    return best


def _simple_runs(password: str) -> int:
    """How many repeats or sequences (``aaaa``, ``abcd``, ``4321``, ``qwer``) make it up."""
    lowered = password.casefold()
    runs, position = 0, 0
    while position < len(lowered):
        position = _run_end(lowered, position)
        runs += 1
    return runs


def _repeated_chunk(text: str) -> bool:
    """True if ``text`` is a piece shorter than MIN_LENGTH written out several times."""
    for size in range(1, min(MIN_LENGTH, len(text) // 2 + 1)):
        if len(text) % size == 0 and text == text[:size] * (len(text) // size):
            return True
    return False


def check_strength(password: str) -> None:
    """Refuse a password that is easy to guess; return quietly if it is acceptable.

    Raises WeakPasswordError whose ``reason`` says what is wrong. The reason never
    quotes the password.
    """
    length = len(password)
    if length < MIN_LENGTH:
        noun = "character" if length == 1 else "characters"
        raise WeakPasswordError(f"too short: {length} {noun}, at least {MIN_LENGTH} are needed")
    if len(set(password.casefold())) == 1:
        raise WeakPasswordError("too easy to guess: it is one character repeated")
    if _repeated_chunk(password.casefold()):
        raise WeakPasswordError("too easy to guess: it is a short pattern repeated")
    if _simple_runs(password) <= 2:
        raise WeakPasswordError(
            "too easy to guess: it is a simple sequence or repetition (like abcd, 4321 or qwerty)"
        )
    if _is_common(password):
        raise WeakPasswordError(
            "too easy to guess: it is a common password or word, "
            "at most with digits or symbols added"
        )
    kinds = {_kind(char) for char in password}
    if len(kinds) == 1:
        (only,) = kinds
        raise WeakPasswordError(
            f"uses only {only}: mix in at least one other kind ({_others(only)})"
        )


def generate_password() -> str:
    """A random password such as ``Kq7mZ-2hTbx-9RdwP-fE4nc`` that passes check_strength.

    Four groups of five characters from an alphabet without look-alike
    characters: about 115 bits of randomness, easy to read out over the phone.
    """
    while True:
        groups = (
            "".join(secrets.choice(UNAMBIGUOUS_ALPHABET) for _ in range(GROUP_SIZE))
            for _ in range(GROUPS)
        )
        candidate = SEPARATOR.join(groups)
        try:
            check_strength(candidate)
        except WeakPasswordError:
            continue
        return candidate
