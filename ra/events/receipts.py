"""Session receipts: each side's signed account of a session, kept in both logs.

At disconnect each side computes the digest of its own session stream (the
events it recorded, in order) and signs ``{session_id, role, events, digest,
public_key}`` with its identity key. The two receipts are exchanged, and each
side records a ``session.receipt`` event holding its own receipt and the
peer's (``null`` if the peer was gone). `check_receipts` recomputes the digest
of every session with a receipt: an event edited after the session ended no
longer matches the receipt signed when it ended, and the peer holds a signed
copy of what it should be.

digest = SHA-256(leaf_1 ‖ leaf_2 ‖ … ‖ leaf_n) over the stream's first
``events`` events, where leaf = SHA-256(0x00 ‖ canonical event bytes), as
the stream's spans hold them (`verify_log` checks each against its body).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ra.b64 import b64
from ra.events import canonical
from ra.events.signed import SignedStatement
from ra.events.store import LEAF, EventStore

RECEIPT_TYPE = "session.receipt"


@dataclass(frozen=True)
class Receipt(SignedStatement):
    session_id: str
    role: str
    events: int
    digest: str

    def to_json(self) -> dict[str, Any]:
        return {**self.statement(), "signature": b64(self.signature)}

    @classmethod
    def from_json(cls, data: Any) -> Receipt:
        """Parse a receipt from a peer or the log; ValueError if malformed."""
        if not isinstance(data, dict):
            raise ValueError("a receipt is a JSON object")
        try:
            events = data["events"]
            if not isinstance(events, int) or isinstance(events, bool) or events < 0:
                raise ValueError("events")
            digest = str(data["digest"])
            if len(bytes.fromhex(digest)) != 32:
                raise ValueError("digest")
            return cls(
                session_id=str(data["session_id"]),
                role=str(data["role"]),
                events=events,
                digest=digest,
                public_key=base64.b64decode(str(data["public_key"]), validate=True),
                signature=base64.b64decode(str(data["signature"]), validate=True),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed receipt ({exc})") from None


def stream_digest(store: EventStore, stream: str, events: int | None = None) -> tuple[int, str]:
    """(count, digest) of the first `events` events of `stream` (all by default)."""
    hashes = bytearray()
    for (leaves,) in store.conn.execute(
        "SELECT CAST(span_leaves AS BLOB) FROM events WHERE span_stream = ? "
        "AND span_last IS NOT NULL ORDER BY span_last", (stream,)
    ):
        hashes += leaves
    if events is not None:
        del hashes[events * LEAF:]
    return len(hashes) // LEAF, hashlib.sha256(hashes).hexdigest()


def sign_receipt(store: EventStore, session_id: str, role: str,
                 key: Ed25519PrivateKey) -> Receipt:
    """This side's receipt for the session as its log holds it now."""
    count, digest = stream_digest(store, f"session:{session_id}")
    unsigned = Receipt(session_id, role, count, digest,
                       public_key=key.public_key().public_bytes_raw())
    return unsigned.sign(key)


def check_receipts(store: EventStore, seqs: Sequence[int]) -> list[tuple[int, str]]:
    """(seq, what is wrong) for every receipt (at `seqs`) the log no longer matches."""
    problems: list[tuple[int, str]] = []
    rows = [store.conn.execute("SELECT seq, body FROM events WHERE seq = ?", (seq,)).fetchone()
            for seq in seqs]
    for seq, body in rows:
        payload = canonical.loads(body).get("payload", {})
        try:
            mine = Receipt.from_json(payload.get("mine"))
            peer = None if payload.get("peer") is None else Receipt.from_json(payload["peer"])
        except ValueError as exc:
            problems.append((seq, f"the session receipt is unreadable: {exc}"))
            continue
        if not mine.signature_holds():
            problems.append((seq, "the session receipt's signature does not hold"))
            continue
        if peer is not None and (not peer.signature_holds() or peer.session_id != mine.session_id):
            problems.append((seq, "the peer's session receipt does not hold"))
        count, digest = stream_digest(store, f"session:{mine.session_id}", mine.events)
        if count != mine.events or digest != mine.digest:
            problems.append((seq, (
                f"session {mine.session_id[:8]} no longer matches the receipt signed when "
                f"it ended (the session's events were changed afterwards)"
            )))
    return problems
