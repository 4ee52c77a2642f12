"""Key fingerprints: the one way ra names a public key to a person.

A fingerprint is SHA-256 of the raw public key (32 bytes for Ed25519), as 64
lowercase hexadecimal characters. That full form is what the log stores and
what programs compare. People read it grouped by four (`format_fingerprint`),
and a prompt that has no room for all sixteen groups shows the first four
(64 bits) and an ellipsis (`short_fingerprint`): enough to tell two keys apart
on the phone, while the log keeps the whole value.

The invitation signing key, the log's checkpoint key and the helper's
identity key (proven in the handshake, recorded on every event the helper
causes) all go through these functions.
"""

from __future__ import annotations

import hashlib

#: Groups `short_fingerprint` shows.
SHORT_GROUPS = 4
ELLIPSIS = "…"


def key_fingerprint(public_raw: bytes) -> str:
    """SHA-256 of a raw public key, as 64 lowercase hex characters."""
    return hashlib.sha256(public_raw).hexdigest()


def format_fingerprint(fingerprint: str) -> str:
    """Hex grouped by four for reading aloud: ``ab12 cd34 ...``."""
    compact = "".join(ch for ch in fingerprint.lower() if ch not in " :-")
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def short_fingerprint(fingerprint: str, groups: int = SHORT_GROUPS) -> str:
    """The first `groups` groups of four and an ellipsis: ``3f2a 19c0 8b7e 55d1 …``."""
    grouped = format_fingerprint(fingerprint).split(" ")
    if len(grouped) <= groups:
        return " ".join(grouped)
    return " ".join(grouped[:groups]) + " " + ELLIPSIS


__all__ = ["ELLIPSIS", "SHORT_GROUPS", "format_fingerprint", "key_fingerprint",
           "short_fingerprint"]
