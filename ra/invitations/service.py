"""Invitations as the log sees them: create, send, list, expire, revoke, delete.

Every change is judged by `InvitationMachine`, then appended as an event to
the invitation's own stream (``invitation:<id>``), then acted on (a file
written, a mail sent, a key destroyed). State is rebuilt by folding the
stream's events with the machine's own table; no machine is built to replay.

Expiry is enforced from the log and the clock wherever an invitation is used:
the first use after `expires_at` records ``invitation.expired``. Wrong
passwords are ``auth.failed`` events; each origin backs off (1, 2, 4, 8 s),
and the fifth failure locks the invitation.

Attempts refused during an origin's back-off are guessing too, so they are
recorded, coalesced (`ra.events.tally`): per invitation and origin, the first
at once and the rest at most once a second, as ``auth.throttled`` with the
``origin`` and the ``count``. The server calls `Invitations.flush_refusals`
every second and once more (``final``) when it stops, so no count is lost.
"""

from __future__ import annotations

import getpass
import os
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ra.errors import InputError, RaError
from ra.events import Actor, EventStore, NewEvent, RecordedEvent
from ra.events.model import SYSTEM, format_time, parse_time, utc_now
from ra.events.tally import Counted, Tally
from ra.forget import apply_retention
from ra.home import Home
from ra.invitations.file import (
    format_fingerprint,
    key_fingerprint,
    new_invitation,
    parse_invitation,
    sign_invitation,
)
from ra.invitations.keystore import Keystore, derive_pake_secret
from ra.invitations.password import check_strength
from ra.statemachines.base import IllegalMove
from ra.statemachines.invitation import (
    ENDED,
    InvitationMachine,
    InvitationState,
)

DEFAULT_EXPIRY = timedelta(hours=1)
DEFAULT_MAX_EXPIRY = timedelta(hours=24)
DEFAULT_PORT = 5960
MAX_FAILURES = 5
BACKOFF_CAP_S = 60
THROTTLED = "auth.throttled"
#: Who tried a password before proving one: a helper, not known yet.
UNKNOWN_HELPER = Actor("helper", "unknown")

EVENT_OF = {
    "send": "invitation.sent",
    "open": "invitation.opened",
    "accept": "invitation.accepted",
    "fail_auth": "auth.failed",
    "lock": "invitation.locked",
    "expire": "invitation.expired",
    "revoke": "invitation.revoked",
    "delete": "invitation.deleted",
}
TRIGGER_OF = {event: trigger for trigger, event in EVENT_OF.items()}


class InvitationNotFound(InputError):
    """No invitation in the log has the id (or the start of an id) asked for."""


class InvitationEnded(InputError):
    """The invitation can no longer be used (expired, revoked, deleted or locked)."""


class TooManyAttempts(InputError):
    """Wrong passwords from this origin came too fast; wait and try again."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(
            f"too many wrong passwords; try again in {max(1, round(retry_after))} s"
        )
        self.retry_after = retry_after


class PolicyError(InputError):
    """The invitation policy file cannot be used, or a request goes beyond it."""


def _next_state(state: InvitationState, trigger: str) -> InvitationState:
    """Where `trigger` takes `state` (`TableMachine.next_state`), for folding: the log
    holds it, so it happened, and folding never refuses."""
    moved = InvitationMachine.next_state(state, trigger)
    assert moved is None or isinstance(moved, InvitationState)
    return state if moved is None else moved


@dataclass
class InvitationView:
    """One invitation, folded from its stream."""

    id: str
    status: InvitationState = InvitationState.CREATED
    version: int = 0
    name: str = ""
    message: str = ""
    created_at: datetime | None = None
    expires_at: datetime | None = None
    file_text: str = ""
    key_fingerprint: str = ""
    tls_fingerprint: str = ""
    addresses: list[str] = field(default_factory=list)
    port: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)
    failures: int = 0
    failures_by_origin: dict[str, tuple[int, datetime]] = field(default_factory=dict)
    history: list[RecordedEvent] = field(default_factory=list)

    @property
    def stream(self) -> str:
        return f"invitation:{self.id}"

    @property
    def ended(self) -> bool:
        return self.status in ENDED

    def time_left(self, now: datetime) -> timedelta:
        if self.expires_at is None or self.ended:
            return timedelta(0)
        return max(timedelta(0), self.expires_at - now)

    def apply(self, event: RecordedEvent) -> None:
        self.version = event.stream_version
        self.history.append(event)
        payload = event.payload
        if event.type == "invitation.created":
            self.name = str(payload["name"])
            self.message = str(payload["message"])
            self.created_at = parse_time(str(payload["created_at"]))
            self.expires_at = parse_time(str(payload["expires_at"]))
            self.file_text = str(payload["file"])
            self.key_fingerprint = str(payload["key_fingerprint"])
            self.tls_fingerprint = str(payload["tls_fingerprint"])
            self.addresses = list(payload["addresses"])
            self.port = int(payload["port"])
            return
        trigger = TRIGGER_OF.get(event.type)
        if trigger is None:
            return
        self.status = _next_state(self.status, trigger)
        if trigger == "send":
            self.sent.append(dict(payload))
        elif trigger == "fail_auth":
            self.failures += 1
            count, _ = self.failures_by_origin.get(event.origin, (0, event.occurred_at))
            self.failures_by_origin[event.origin] = (count + 1, event.occurred_at)

    def to_json(self, now: datetime) -> dict[str, Any]:
        return {
            "id": self.id,
            "status": self.status.value,
            "name": self.name,
            "message": self.message,
            "created_at": None if self.created_at is None else format_time(self.created_at),
            "expires_at": None if self.expires_at is None else format_time(self.expires_at),
            "seconds_left": int(self.time_left(now).total_seconds()),
            "sent": self.sent,
            "failed_attempts": self.failures,
            "key_fingerprint": self.key_fingerprint,
            "tls_fingerprint": self.tls_fingerprint,
            "addresses": self.addresses,
            "port": self.port,
        }


def local_person() -> Actor:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return Actor("person", user or "unknown")


@dataclass(frozen=True)
class Policy:
    max_expiry: timedelta = DEFAULT_MAX_EXPIRY

    @classmethod
    def load(cls, home: Home) -> Policy:
        """``RA_HOME/config.toml``: ``[invitations] max_expiry = "8h"``."""
        from ra.cli.common import parse_duration  # the one duration syntax

        path = home.config
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return cls()
        except OSError as exc:
            raise PolicyError(f"cannot read {path}: {exc.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise PolicyError(f"{path} is not valid TOML: {exc}") from None
        section = data.get("invitations", {})
        if not isinstance(section, dict):
            raise PolicyError(
                f"{path}: `invitations` must be a table ([invitations] and its settings "
                "below it)"
            )
        value = section.get("max_expiry")
        if value is None:
            return cls()
        if not isinstance(value, str):
            raise PolicyError(f'{path}: [invitations] max_expiry must be text like "8h"')
        try:
            return cls(max_expiry=parse_duration(value))
        except RaError as exc:
            raise PolicyError(f"{path}: [invitations] max_expiry: {exc}") from None


@dataclass(frozen=True)
class Created:
    view: InvitationView
    file_bytes: bytes


class Invitations:
    """The invitations of one RA_HOME, driven by its log."""

    def __init__(
        self,
        store: EventStore,
        home: Home,
        *,
        clock: Callable[[], datetime] = utc_now,
        policy: Policy | None = None,
    ) -> None:
        self.store = store
        self.home = home
        self.clock = clock
        self.policy = policy or Policy.load(home)
        self.keystore = Keystore(home)
        self._throttled: dict[tuple[str, str], Tally] = {}  # (invitation id, origin)
        self.sweep_keystore()
        self.forgotten = apply_retention(store, home, now=clock())  # [retention] chat

    def sweep_keystore(self) -> list[str]:
        """Destroy secrets that belong to no open invitation (a killed `create` leaves one)."""

        def is_open(inv_id: str) -> bool:
            try:
                return not self.load(inv_id).ended
            except InvitationNotFound:
                return False

        return self.keystore.sweep(is_open)

    # -- create and send --------------------------------------------------

    def create(
        self,
        *,
        name: str,
        message: str,
        password: str,
        expires_in: timedelta = DEFAULT_EXPIRY,
        addresses: Sequence[str] = ("127.0.0.1",),
        port: int = DEFAULT_PORT,
        actor: Actor | None = None,
    ) -> Created:
        if expires_in <= timedelta(0):
            raise PolicyError("the expiry must be in the future")
        if expires_in > self.policy.max_expiry:
            raise PolicyError(
                f"an invitation may last at most {_human(self.policy.max_expiry)} "
                f"(asked for {_human(expires_in)}); shorter is safer"
            )
        check_strength(password)
        now = self.clock()
        from ra.identity import load_identity  # x509 and TLS keys: only a new invitation needs them

        identity = load_identity(self.home)
        invitation = new_invitation(
            name=name, message=message, expires_at=now + expires_in, addresses=addresses,
            port=port, tls_fingerprint=identity.tls_fingerprint,
            signing_key=identity.signing_public, now=now,
        )
        file_bytes = sign_invitation(invitation, identity.signing_key)
        inv_id = invitation.invitation_id
        secret = derive_pake_secret(password, invitation.pake)
        payload = {
            "name": invitation.name,
            "message": invitation.message,
            "created_at": format_time(invitation.created_at),
            "expires_at": format_time(invitation.expires_at),
            "addresses": list(invitation.addresses),
            "port": invitation.port,
            "tls_fingerprint": invitation.tls_fingerprint,
            "key_fingerprint": key_fingerprint(invitation.signing_key),
            "file": file_bytes.decode("utf-8"),
        }
        with self.keystore.creating():  # a sweep never sees the secret before its event
            self.keystore.put(inv_id, secret)
            try:
                self.store.append(f"invitation:{inv_id}", 0, [
                    NewEvent("invitation.created", payload, actor or local_person())
                ], now=now)
            except BaseException:
                self.keystore.destroy(inv_id)
                raise
        return Created(self.get(inv_id), file_bytes)

    def ensure_can(self, view: InvitationView, trigger: str) -> None:
        """Raise `IllegalMove` now if `trigger` is not allowed (before acting on it)."""
        if not InvitationMachine(view.status, view.id[:8]).allows(trigger):
            raise IllegalMove(_refusal(trigger, view))

    def record_sent(self, view: InvitationView, channel: str, to: str,
                    actor: Actor | None = None) -> InvitationView:
        return self._move(view, "send", {"channel": channel, "to": to}, actor)

    # -- read ---------------------------------------------------------------

    def load(self, inv_id: str) -> InvitationView:
        """The invitation as its stream folds to (expiry not enforced: see `get`)."""
        view = InvitationView(inv_id)
        for event in self.store.read_stream(f"invitation:{inv_id}"):
            view.apply(event)
        if view.version == 0:
            raise InvitationNotFound(f"no invitation {inv_id} in this log")
        return view

    def resolve(self, id_or_prefix: str) -> str:
        """A full invitation id from an id or a unique prefix of one."""
        wanted = id_or_prefix.strip().lower()
        if len(wanted) < 4:
            raise InvitationNotFound("give at least 4 characters of the invitation id")
        matches = [
            event.stream.split(":", 1)[1]
            for event in self.store.iter_events(
                stream_prefix=f"invitation:{wanted}", types=["invitation.created"]
            )
        ]
        if not matches:
            raise InvitationNotFound(f"no invitation {id_or_prefix} in this log")
        if len(matches) > 1:
            shown = ", ".join(sorted(matches)[:20]) + (", ..." if len(matches) > 20 else "")
            raise InvitationNotFound(
                f"{id_or_prefix} matches {len(matches)} invitations: {shown}; "
                "give more of the id"
            )
        return matches[0]

    def get(self, id_or_prefix: str) -> InvitationView:
        """The invitation, with expiry enforced (recorded on first use after it)."""
        return self._enforce_expiry(self.load(self.resolve(id_or_prefix)))

    def list(self, *, include_ended: bool = False) -> list[InvitationView]:
        ids = [
            event.stream.split(":", 1)[1]
            for event in self.store.iter_events(types=["invitation.created"])
        ]
        views = [self._enforce_expiry(self.load(inv_id)) for inv_id in ids]
        return [v for v in views if include_ended or not v.ended]

    def file_bytes(self, view: InvitationView) -> bytes:
        return view.file_text.encode("utf-8")

    # -- end ----------------------------------------------------------------

    def expire(self, view: InvitationView, actor: Actor | None = None) -> InvitationView:
        return self._move(view, "expire", {"reason": "by person"}, actor)

    def revoke(self, view: InvitationView, reason: str = "revoked",
               actor: Actor | None = None) -> InvitationView:
        return self._move(view, "revoke", {"reason": reason}, actor)

    def delete(self, view: InvitationView, actor: Actor | None = None) -> InvitationView:
        return self._move(view, "delete", {}, actor)

    # -- use by a connecting helper ------------------------------------------

    def check_usable(self, inv_id: str, origin: str) -> InvitationView:
        """Refuse an ended invitation, or an origin that must still wait."""
        view = self._enforce_expiry(self.load(inv_id))
        if view.ended:
            raise InvitationEnded(f"invitation {inv_id[:8]} has {_ended_words(view.status)}")
        count, last = view.failures_by_origin.get(origin, (0, None))
        if count and last is not None:
            wait = min(2 ** (count - 1), BACKOFF_CAP_S)
            elapsed = (self.clock() - last).total_seconds()
            if elapsed < wait:
                self._refused_in_back_off(view.id, origin)
                raise TooManyAttempts(wait - elapsed)
        return view

    def flush_refusals(self, *, final: bool = False) -> None:
        """Record the back-off refusals still counted: those a second old, or all (final)."""
        now = self.clock().timestamp()
        for (inv_id, origin), tally in list(self._throttled.items()):
            counted = tally.drain() if final else tally.flush(now)
            if counted is not None:
                self._record_throttled(inv_id, origin, counted)
            if final or tally.quiet(now):
                del self._throttled[(inv_id, origin)]

    def _refused_in_back_off(self, inv_id: str, origin: str) -> None:
        tally = self._throttled.setdefault((inv_id, origin), Tally())
        counted = tally.note(self.clock().timestamp())
        if counted is not None:
            self._record_throttled(inv_id, origin, counted)

    def _record_throttled(self, inv_id: str, origin: str, counted: Counted) -> None:
        view = self.load(inv_id)
        self.store.append(view.stream, view.version, [
            NewEvent(THROTTLED, {"origin": origin, **counted.payload()}, UNKNOWN_HELPER,
                     outcome="denied", origin=origin)
        ], now=self.clock())

    def pake_secret(self, inv_id: str) -> bytes:
        return self.keystore.get(inv_id)

    def record_open(self, view: InvitationView, origin: str, actor: Actor) -> InvitationView:
        return self._move(view, "open", {"origin": origin}, actor, origin=origin)

    def record_accept(self, view: InvitationView, origin: str, session_id: str,
                      actor: Actor) -> InvitationView:
        return self._move(view, "accept", {"origin": origin, "session_id": session_id},
                          actor, origin=origin)

    def record_auth_failure(self, view: InvitationView, origin: str,
                            actor: Actor, *, reason: str = "password") -> InvitationView:
        """An `auth.failed` event; the fifth failure also locks the invitation.

        `reason`: ``password`` (a wrong one) or ``identity`` (the right one, but
        the helper's signature did not hold for the key it named).
        """
        attempt = view.failures + 1
        events = [NewEvent("auth.failed", {"attempt": attempt, "origin": origin,
                                           "reason": reason}, actor,
                           outcome="failure", origin=origin)]
        machine = InvitationMachine(view.status, view.id[:8])
        machine.fire("fail_auth")
        if attempt >= MAX_FAILURES:
            machine.fire("lock")
            events.append(NewEvent("invitation.locked", {"failures": attempt}, SYSTEM,
                                   outcome="denied", origin=origin))
        self.store.append(view.stream, view.version, events, now=self.clock())
        if attempt >= MAX_FAILURES:
            self.keystore.destroy(view.id)
        return self.load(view.id)

    # -- the one way state changes ---------------------------------------------

    def _move(self, view: InvitationView, trigger: str, payload: dict[str, Any],
              actor: Actor | None, *, origin: str | None = None) -> InvitationView:
        machine = InvitationMachine(view.status, view.id[:8])
        if not machine.allows(trigger):
            raise IllegalMove(_refusal(trigger, view))
        machine.fire(trigger)
        self.store.append(view.stream, view.version, [
            NewEvent(EVENT_OF[trigger], payload, actor or local_person(),
                     outcome="success", origin=origin)
        ], now=self.clock())
        if machine.state in ENDED:
            self.keystore.destroy(view.id)
        return self.load(view.id)

    def _enforce_expiry(self, view: InvitationView) -> InvitationView:
        if view.ended or view.expires_at is None or self.clock() < view.expires_at:
            return view
        return self._move(view, "expire", {"reason": "time"}, SYSTEM)


def _ended_words(state: InvitationState) -> str:
    return {
        InvitationState.EXPIRED: "expired",
        InvitationState.REVOKED: "been revoked",
        InvitationState.DELETED: "been deleted",
        InvitationState.LOCKED: "been locked after too many wrong passwords",
    }.get(state, state.value)


def _refusal(trigger: str, view: InvitationView) -> str:
    verb = {"send": "resend", "expire": "expire", "delete": "delete", "revoke": "revoke",
            "open": "open", "accept": "accept", "lock": "lock"}.get(trigger, trigger)
    return (f"cannot {verb} invitation {view.id[:8]}: it has {_ended_words(view.status)}"
            if view.ended else f"cannot {verb} invitation {view.id[:8]}: it is "
            f"{view.status.value}")


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


__all__ = [
    "Created",
    "InvitationEnded",
    "InvitationNotFound",
    "InvitationView",
    "Invitations",
    "Policy",
    "PolicyError",
    "THROTTLED",
    "TooManyAttempts",
    "format_fingerprint",
    "parse_invitation",
]
