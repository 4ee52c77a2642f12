"""Text from a peer or a file, made inert for display on one line.

Design
------
Everything the other side sends (chat, names, reasons) and everything an
invitation file holds (the sender's name and message) may be hostile. Printed
raw, it can drive the terminal that shows it: an escape sequence moves the
cursor, erases lines or retitles the window; a bare newline or carriage
return starts a line that looks like ra's own; a bidirectional override
reverses what follows; a zero-width character hides in a name. Any of these
can make a forged question ("keep viewing? [y/n]") look like the real one.

`inert` is the one way such text reaches a screen. It returns text that a
terminal prints as it is, on one line:

* every character that is not plain visible text is *escaped*, never
  dropped, so the reader sees that something odd was sent: control
  characters (C0 with TAB, CR and LF, DEL, C1 U+0080-U+009F), format
  characters (Unicode category Cf: bidi marks, embeddings, overrides and
  isolates, zero-width characters, U+061C, U+FEFF ...), line and paragraph
  separators (Zl, Zp), lone surrogates (Cs, which could not even be
  printed), code points this Python's Unicode does not know (Cn: a newer
  terminal may take them for format characters), and a few invisible
  letters (the Hangul fillers and the like). They are written the way
  Python writes them: ``\\n``, ``\\x1b``, ``\\u202e``, ``\\U000e0001``;
* a long run of combining marks (which some terminals stack over the
  neighbouring lines) is cut: marks after the fourth on one character are
  escaped too;
* the result is at most `limit` characters; longer text is cut at a whole
  character or escape and ends with "…".

An escape sequence is a control character followed by plain text, so it ends
up as ``\\x1b[2K`` on the screen: visible and harmless. Backslashes are left
as they are, so `inert` is idempotent (inert text passes unchanged) and a
caller may apply it to a whole line that embeds already inert parts.
"""

from __future__ import annotations

import unicodedata

#: Unicode categories that are never printed raw.
ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp", "Cn"})
#: Letters that draw nothing (default-ignorable code points outside Cf).
INVISIBLE = frozenset("\u034f\u115f\u1160\u17b4\u17b5\u3164\uffa0")
#: Combining marks kept on one base character; later ones are escaped.
MAX_MARKS = 4
DEFAULT_LIMIT = 1000
ELLIPSIS = "…"

_SHORT = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_MARKS = frozenset({"Mn", "Mc", "Me"})


def needs_escape(char: str) -> bool:
    """Whether `char` (one character) is never shown raw."""
    return unicodedata.category(char) in ESCAPED_CATEGORIES or char in INVISIBLE


def escape_char(char: str) -> str:
    """`char` written visibly, as Python writes it in a string literal."""
    short = _SHORT.get(char)
    if short is not None:
        return short
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def inert(text: object, limit: int = DEFAULT_LIMIT) -> str:
    """`text` (made a string if it is not one) safe to print on one line, at most `limit` long."""
    if limit < 1:
        raise ValueError("limit must be at least 1")
    source = text if isinstance(text, str) else str(text)
    pieces: list[str] = []
    total = 0
    marks = 0
    for char in source:
        if needs_escape(char):
            piece = escape_char(char)
            marks = 0
        elif unicodedata.category(char) in _MARKS:
            marks += 1
            piece = escape_char(char) if marks > MAX_MARKS else char
        else:
            piece = char
            marks = 0
        pieces.append(piece)
        total += len(piece)
        if total > limit:
            break
    else:
        return "".join(pieces)
    while pieces and total + len(ELLIPSIS) > limit:
        total -= len(pieces.pop())
    return "".join(pieces) + ELLIPSIS


__all__ = ["DEFAULT_LIMIT", "ELLIPSIS", "escape_char", "inert", "needs_escape"]
