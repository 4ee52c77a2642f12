"""The sharer's keystore: what the person's side must keep to run the PAKE.

SPAKE2 is a balanced PAKE: both sides run it with the same secret. The
person's side keeps, per open invitation, a secret derived from the password
with scrypt and the invitation's public salt; the helper derives the same
from the password they were told. The derived secret lives only here
(``RA_HOME/keystore/<invitation id>.key``, mode 0600, folder 0700): never in
the invitation file, the log, or a log line. It is destroyed (overwritten,
then removed) when the invitation reaches a final state.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import unicodedata
from pathlib import Path

from ra.errors import RaError
from ra.files import write_private
from ra.home import Home
from ra.invitations.file import PakeParams

SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1


class KeystoreError(RaError):
    """The keystore entry is missing or unreadable."""

    exit_code = 2


def derive_pake_secret(password: str, pake: PakeParams) -> bytes:
    """scrypt(NFKC(password), salt ‖ idA ‖ idB): the secret both sides give SPAKE2."""
    normal = unicodedata.normalize("NFKC", password).encode("utf-8")
    salt = pake.salt + b"\x00" + pake.id_a.encode() + b"\x00" + pake.id_b.encode()
    return hashlib.scrypt(normal, salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                          maxmem=64 * 1024 * 1024, dklen=32)


class Keystore:
    def __init__(self, home: Home) -> None:
        self.root = home.root / "keystore"

    def _path(self, invitation_id: str) -> Path:
        return self.root / f"{invitation_id}.key"

    def put(self, invitation_id: str, secret: bytes) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self._path(invitation_id)
        data = json.dumps({"invitation_id": invitation_id,
                           "pake_secret": base64.b64encode(secret).decode()}).encode()
        write_private(path, data)

    def get(self, invitation_id: str) -> bytes:
        try:
            data = json.loads(self._path(invitation_id).read_bytes())
            return base64.b64decode(data["pake_secret"], validate=True)
        except FileNotFoundError:
            raise KeystoreError(
                f"no key is kept for invitation {invitation_id}: it has ended or was made "
                "in another RA_HOME"
            ) from None
        except (OSError, ValueError, KeyError, TypeError):
            raise KeystoreError(f"the keystore entry for {invitation_id} is damaged") from None

    def has(self, invitation_id: str) -> bool:
        return self._path(invitation_id).exists()

    def destroy(self, invitation_id: str) -> bool:
        """Overwrite and remove the entry; True if there was one."""
        path = self._path(invitation_id)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return False
        with open(path, "r+b") as handle:
            handle.write(b"\x00" * size)
            handle.flush()
            os.fsync(handle.fileno())
        path.unlink()
        return True
