"""The person's keystore: what the person's side must keep to run the PAKE.

SPAKE2 is a balanced PAKE: both sides run it with the same secret. The
person's side keeps, per open invitation, a secret derived from the password
with scrypt and the invitation's public salt; the helper derives the same
from the password they were told. The derived secret lives only here
(``RA_HOME/keystore/<invitation id>.key``, mode 0600, folder 0700): never in
the invitation file, the log, or a log line. It is destroyed (overwritten,
then removed) when the invitation reaches a final state; one that a killed
process left behind (no open invitation names it) is destroyed by the next
command that opens the invitations (`Keystore.sweep`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from ra.errors import InputError
from ra.files import folder_names, is_stale_temp, locked, raise_as, shred, stored_ids, write_private
from ra.home import Home, private_folder
from ra.invitations.file import PakeParams

SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1


class KeystoreError(InputError):
    """The keystore entry is missing or unreadable."""


def derive_pake_secret(password: str, pake: PakeParams) -> bytes:
    """scrypt(NFKC(password), salt ‖ idA ‖ idB): the secret both sides give SPAKE2."""
    normal = unicodedata.normalize("NFKC", password).encode("utf-8")
    salt = pake.salt + b"\x00" + pake.id_a.encode() + b"\x00" + pake.id_b.encode()
    return hashlib.scrypt(normal, salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P,
                          maxmem=64 * 1024 * 1024, dklen=32)


class Keystore:
    """``RA_HOME/keystore``: one file per open invitation, and a lock.

    An invitation's secret is written before its ``invitation.created`` event
    is appended, so a process killed between the two leaves a secret with no
    invitation. `sweep` destroys such orphans (and the temporary files of a
    write that was cut short), and secrets of invitations that ended without
    theirs being destroyed. The window between the write and the append is
    held under the keystore's lock (`creating`), and `sweep` takes the same
    lock: a secret it sees without an invitation is one whose creator died.
    """

    def __init__(self, home: Home) -> None:
        self.root = home.keystore_dir

    def _path(self, invitation_id: str) -> Path:
        return self.root / f"{invitation_id}.key"

    def _open_folder(self) -> None:
        private_folder(self.root)

    @contextmanager
    def creating(self) -> Iterator[None]:
        """Hold the keystore's lock while a secret is written and its invitation recorded."""
        self._open_folder()
        lock = self.root / ".lock"
        with ExitStack() as held:
            with raise_as(KeystoreError, f"cannot open the keystore lock {lock}"):
                held.enter_context(locked(lock))
            yield

    def put(self, invitation_id: str, secret: bytes) -> None:
        self._open_folder()
        path = self._path(invitation_id)
        data = json.dumps({"invitation_id": invitation_id,
                           "pake_secret": base64.b64encode(secret).decode()}).encode()
        with raise_as(KeystoreError, f"cannot write the keystore entry {path}"):
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
            raise KeystoreError(
                f"the keystore entry {self._path(invitation_id)} is damaged or unreadable"
            ) from None

    def has(self, invitation_id: str) -> bool:
        return self._path(invitation_id).exists()

    def destroy(self, invitation_id: str) -> bool:
        """Overwrite and remove the entry; True if there was one."""
        return self._shred(self._path(invitation_id))

    def _shred(self, path: Path) -> bool:
        with raise_as(KeystoreError, f"cannot destroy the keystore entry {path}"):
            return shred(path)

    def ids(self) -> list[str]:
        """The invitations that have a secret here."""
        return stored_ids(self._names(), ".key")

    def _names(self) -> list[str]:
        with raise_as(KeystoreError, f"cannot read the keystore {self.root}"):
            return folder_names(self.root)

    def sweep(self, is_open: Callable[[str], bool]) -> list[str]:
        """Destroy every secret whose invitation `is_open` denies; returns their ids.

        Also destroys the temporary files a write cut short left behind.
        Nothing is created when there is no keystore yet.
        """
        if not (self.root.exists() or self.root.is_symlink()):
            return []
        swept: list[str] = []
        with self.creating():
            for name in self._names():
                if is_stale_temp(name):
                    self._shred(self.root / name)
            for invitation_id in self.ids():
                if not is_open(invitation_id):
                    self.destroy(invitation_id)
                    swept.append(invitation_id)
        return swept
