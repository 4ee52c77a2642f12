"""Proof documents: inclusion and consistency proofs anyone can check offline.

An inclusion proof document carries the event's canonical bytes, its seq,
the tree size and root, and the audit path; a consistency proof document
carries the old and new sizes and roots and the proof. Either may carry the
signed checkpoint it was made against, whose signature is then checked too.
`verify_document` needs nothing but the document.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from ra.errors import RaError
from ra.events import merkle
from ra.events.checkpoint import Checkpoint, CheckpointError
from ra.events.store import EventStore

FORMAT = "ra-proof"


class ProofFailedError(RaError):
    """A proof does not establish what it claims."""

    exit_code = 1


@dataclass(frozen=True)
class ProofDocument:
    kind: str  # "inclusion" or "consistency"
    tree_size: int
    root: bytes
    proof: list[bytes]
    seq: int | None = None
    event: bytes | None = None
    old_size: int | None = None
    old_root: bytes | None = None
    checkpoint: Checkpoint | None = None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "format": FORMAT,
            "kind": self.kind,
            "tree_size": self.tree_size,
            "root": self.root.hex(),
            "proof": [h.hex() for h in self.proof],
        }
        if self.kind == "inclusion":
            doc["seq"] = self.seq
            doc["event"] = None if self.event is None else self.event.decode("utf-8")
        else:
            doc["old_size"] = self.old_size
            doc["old_root"] = None if self.old_root is None else self.old_root.hex()
        if self.checkpoint is not None:
            doc["checkpoint"] = {
                "statement": self.checkpoint.statement(),
                "signature": base64.b64encode(self.checkpoint.signature).decode("ascii"),
            }
        return doc

    @classmethod
    def from_json(cls, data: Any) -> ProofDocument:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ProofFailedError("this is not an ra proof document")
        try:
            kind = data["kind"]
            if kind not in ("inclusion", "consistency"):
                raise ValueError(kind)
            checkpoint = None
            if data.get("checkpoint") is not None:
                raw = data["checkpoint"]
                checkpoint = Checkpoint.from_statement(
                    raw["statement"], base64.b64decode(raw["signature"], validate=True)
                )
            event = data.get("event")
            old_root = data.get("old_root")
            return cls(
                kind=kind,
                tree_size=int(data["tree_size"]),
                root=bytes.fromhex(data["root"]),
                proof=[bytes.fromhex(h) for h in data["proof"]],
                seq=None if data.get("seq") is None else int(data["seq"]),
                event=None if event is None else str(event).encode("utf-8"),
                old_size=None if data.get("old_size") is None else int(data["old_size"]),
                old_root=None if old_root is None else bytes.fromhex(old_root),
                checkpoint=checkpoint,
            )
        except (KeyError, TypeError, ValueError, CheckpointError) as exc:
            raise ProofFailedError(f"the proof document is malformed ({exc})") from None

    def describe(self) -> str:
        if self.kind == "inclusion":
            return (f"proof holds: event seq {self.seq} is in the log of {self.tree_size} "
                    f"events with root {self.root.hex()}")
        return (f"proof holds: the log of {self.tree_size} events (root {self.root.hex()}) "
                f"extends the log of {self.old_size} events (root "
                f"{(self.old_root or b'').hex()})")


def inclusion_document(
    store: EventStore, seq: int, *, size: int | None = None, checkpoint: Checkpoint | None = None
) -> ProofDocument:
    total = store.size()
    size = total if size is None else size
    if size > total:
        raise ProofFailedError(f"the log has {total} events, fewer than the {size} asked for")
    if not 0 <= seq < size:
        raise ProofFailedError(f"seq {seq} is not in a log of {size} events")
    leaves = store.leaf_hashes(size)
    event = store.event(seq)
    assert event is not None
    return ProofDocument(
        kind="inclusion",
        tree_size=size,
        root=merkle.root(leaves),
        proof=merkle.inclusion_proof(seq, leaves),
        seq=seq,
        event=event.body,
        checkpoint=checkpoint,
    )


def consistency_document(
    store: EventStore, old: Checkpoint, *, new_size: int | None = None
) -> ProofDocument:
    total = store.size()
    new_size = total if new_size is None else new_size
    if not 0 < old.tree_size <= new_size <= total:
        raise ProofFailedError(
            f"cannot prove {old.tree_size} -> {new_size} events on a log of {total}"
        )
    leaves = store.leaf_hashes(new_size)
    return ProofDocument(
        kind="consistency",
        tree_size=new_size,
        root=merkle.root(leaves),
        proof=merkle.consistency_proof(old.tree_size, leaves),
        old_size=old.tree_size,
        old_root=old.root,
        checkpoint=old,
    )


def verify_document(doc: ProofDocument) -> None:
    """Raise `ProofFailedError` unless the document's proof holds."""
    try:
        if doc.kind == "inclusion":
            if doc.event is None or doc.seq is None:
                raise ProofFailedError("an inclusion proof needs the event and its seq")
            merkle.verify_inclusion(
                doc.seq, doc.tree_size, merkle.leaf_hash(doc.event), doc.proof, doc.root
            )
            if b'"seq":%d,' % doc.seq not in doc.event:
                raise ProofFailedError(f"the event in the proof is not the one at seq {doc.seq}")
            signed_size, signed_root = doc.tree_size, doc.root
        else:
            if doc.old_size is None or doc.old_root is None:
                raise ProofFailedError("a consistency proof needs the old size and root")
            merkle.verify_consistency(
                doc.old_size, doc.tree_size, doc.old_root, doc.root, doc.proof
            )
            signed_size, signed_root = doc.old_size, doc.old_root
    except merkle.MerkleError as exc:
        raise ProofFailedError(f"the proof does not hold: {exc}") from None
    if doc.checkpoint is not None:
        if not doc.checkpoint.signature_holds():
            raise ProofFailedError("the checkpoint in the proof has a signature that does not hold")
        if (doc.checkpoint.tree_size, doc.checkpoint.root) != (signed_size, signed_root):
            raise ProofFailedError("the proof is not about the tree its checkpoint signed")
