"""Invitations driven by the log, with a fake clock: lifecycle, expiry, attempts, keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from support import HELPER

from ra.events import EventStore
from ra.home import Home
from ra.invitations import WeakPasswordError, parse_invitation
from ra.invitations.keystore import derive_pake_secret
from ra.invitations.service import (
    InvitationEnded,
    Invitations,
    InvitationView,
    Policy,
    PolicyError,
    TooManyAttempts,
)
from ra.statemachines import IllegalMove, InvitationState

PASSWORD = "correct-Horse-battery-9"


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def invitations(store: EventStore, home: Home, clock: Clock) -> Invitations:
    return Invitations(store, home, clock=clock)


def types(store: EventStore) -> list[str]:
    return [e.type for e in store.iter_events()]


def make(invitations: Invitations, **kwargs: object) -> InvitationView:
    args: dict[str, object] = {"name": "Alice", "message": "printer", "password": PASSWORD}
    args.update(kwargs)
    return invitations.create(**args).view  # type: ignore[arg-type]


def test_create_records_the_invitation_and_keeps_the_pake_secret(
    invitations: Invitations, store: EventStore
) -> None:
    created = invitations.create(name="Alice", message="printer", password=PASSWORD)
    view = created.view
    assert view.status is InvitationState.CREATED
    assert types(store) == ["invitation.created"]
    invitation = parse_invitation(created.file_bytes, now=invitations.clock())
    assert invitation.invitation_id == view.id
    assert invitation.expires_at - invitation.created_at == timedelta(hours=1)
    assert invitations.pake_secret(view.id) == derive_pake_secret(PASSWORD, invitation.pake)
    # The file the log keeps is the file that was signed.
    assert invitations.file_bytes(view) == created.file_bytes


def test_policy_and_weak_passwords_refuse_and_append_nothing(
    invitations: Invitations, store: EventStore, home: Home, clock: Clock
) -> None:
    with pytest.raises(PolicyError, match="at most 24 h"):
        make(invitations, expires_in=timedelta(hours=25))
    with pytest.raises(WeakPasswordError):
        make(invitations, password="password1")
    strict = Invitations(store, home, clock=clock, policy=Policy(timedelta(hours=2)))
    with pytest.raises(PolicyError, match="at most 2 h"):
        make(strict, expires_in=timedelta(hours=3))
    assert store.size() == 0


def test_the_whole_lifecycle_and_every_illegal_move(
    invitations: Invitations, store: EventStore
) -> None:
    view = make(invitations)
    view = invitations.record_sent(view, "file", "RAInvitation.rainv")
    view = invitations.record_sent(view, "email", "help@example.org")
    assert view.status is InvitationState.SENT and len(view.sent) == 2
    view = invitations.record_open(view, "127.0.0.1", HELPER)
    view = invitations.record_accept(view, "127.0.0.1", "session-1", HELPER)
    assert view.status is InvitationState.ACCEPTED
    view = invitations.expire(view)
    assert view.status is InvitationState.EXPIRED
    assert not invitations.keystore.has(view.id), "the PAKE secret dies with the invitation"
    before = store.size()
    for move in (invitations.expire, invitations.revoke):
        with pytest.raises(IllegalMove, match="it has expired"):
            move(view)
    with pytest.raises(IllegalMove, match="cannot resend"):
        invitations.record_sent(view, "file", "x")
    view = invitations.delete(view)
    with pytest.raises(IllegalMove, match="been deleted"):
        invitations.delete(view)
    with pytest.raises(IllegalMove, match="cannot resend invitation .*: it has been deleted"):
        invitations.record_sent(view, "file", "x")
    assert store.size() == before + 1  # only the delete
    with pytest.raises(InvitationEnded, match="been deleted"):
        invitations.check_usable(view.id, "127.0.0.1")


def test_expiry_is_recorded_on_first_use_after_it(
    invitations: Invitations, store: EventStore, clock: Clock
) -> None:
    view = make(invitations, expires_in=timedelta(minutes=10))
    clock.advance(minutes=9, seconds=59)
    assert invitations.get(view.id).status is InvitationState.CREATED
    clock.advance(seconds=1)
    with pytest.raises(InvitationEnded, match="expired"):
        invitations.check_usable(view.id, "10.0.0.1")
    assert invitations.get(view.id).status is InvitationState.EXPIRED
    expired = [e for e in store.iter_events() if e.type == "invitation.expired"]
    assert len(expired) == 1 and expired[0].payload == {"reason": "time"}
    assert not invitations.keystore.has(view.id)


def test_wrong_passwords_back_off_per_origin_and_the_fifth_locks(
    invitations: Invitations, store: EventStore, clock: Clock
) -> None:
    view = make(invitations)
    view = invitations.record_auth_failure(view, "198.51.100.7", HELPER)
    with pytest.raises(TooManyAttempts):
        invitations.check_usable(view.id, "198.51.100.7")
    invitations.check_usable(view.id, "203.0.113.9")  # another origin is not held back
    clock.advance(seconds=1)
    view = invitations.check_usable(view.id, "198.51.100.7")
    view = invitations.record_auth_failure(view, "198.51.100.7", HELPER)
    clock.advance(seconds=1)
    with pytest.raises(TooManyAttempts, match="try again in 1 s"):
        invitations.check_usable(view.id, "198.51.100.7")  # now 2 s
    for _ in range(3):
        clock.advance(seconds=30)
        view = invitations.check_usable(view.id, "198.51.100.7")
        view = invitations.record_auth_failure(view, "198.51.100.7", HELPER)
    assert view.status is InvitationState.LOCKED
    failures = [e for e in store.iter_events() if e.type == "auth.failed"]
    assert [e.payload["attempt"] for e in failures] == [1, 2, 3, 4, 5]
    assert all(e.origin == "198.51.100.7" and e.outcome == "failure" for e in failures)
    assert types(store)[-1] == "invitation.locked"
    clock.advance(hours=0.5)
    with pytest.raises(InvitationEnded, match="locked"):
        invitations.check_usable(view.id, "203.0.113.9")  # even the right password is too late
    assert not invitations.keystore.has(view.id)


def test_attempts_refused_during_the_back_off_are_recorded_coalesced(
    invitations: Invitations, store: EventStore, clock: Clock
) -> None:
    view = make(invitations)
    for _ in range(2):
        clock.advance(seconds=30)
        view = invitations.record_auth_failure(view, "198.51.100.7", HELPER)  # wait: 2 s
    # A guesser hammers during the back-off: 500 tries in 1.9 s.
    for n in range(500):
        clock.now = view.history[-1].occurred_at + timedelta(seconds=n * 0.0038)
        with pytest.raises(TooManyAttempts):
            invitations.check_usable(view.id, "198.51.100.7")
    throttled = [e for e in store.iter_events() if e.type == "auth.throttled"]
    # The first at once; then at most one a second (the next try after a second
    # brings the ones before it); the rest are still being counted.
    assert [e.payload["count"] for e in throttled] == [1, 264]  # tries 2..265, at 1.0032 s
    invitations.flush_refusals()  # the server does this every second: not due yet
    clock.advance(seconds=1)
    invitations.flush_refusals()  # now it is
    invitations.flush_refusals(final=True)  # and once more when it stops: nothing left
    throttled = [e for e in store.iter_events() if e.type == "auth.throttled"]
    assert len(throttled) == 3
    assert sum(e.payload["count"] for e in throttled) == 500
    assert all(e.origin == "198.51.100.7" == e.payload["origin"] and e.outcome == "denied"
               and e.actor.kind == "helper" for e in throttled)
    # The back-off itself is unchanged: the refusals are not failures.
    assert invitations.load(view.id).failures == 2
    clock.advance(seconds=2)
    invitations.check_usable(view.id, "198.51.100.7")
    assert invitations._throttled == {}  # nothing kept for an origin no longer refused


def test_ids_resolve_from_a_unique_prefix(invitations: Invitations) -> None:
    view = make(invitations)
    assert invitations.get(view.id[:8]).id == view.id
    with pytest.raises(Exception, match="no invitation"):
        invitations.get("ffffffff")
