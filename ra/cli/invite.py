"""`ra invite`: create, send, list, show, expire, revoke, delete, resend, inspect.

The log, the invitation service, signing, passwords and mail are imported
inside the commands that use them: the command tree is built on every start of
`ra`. The ways to deliver an invitation (``--save``, ``--email`` and its mail
server, ``--code``) are declared once (`_delivery_options`) and taken by
`create` and `resend` alike.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from inspect import signature
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ra.cli.common import (
    DEFAULT_PORT,
    FILE_SUFFIX,
    HomeOption,
    InvitationArg,
    JsonlOption,
    JsonOption,
    PortOption,
    UsageError,
    emit_json,
    group,
    has_log,
    home_of,
    json_mode,
    open_existing_store,
    parse_duration,
    password_stdin_option,
    read_password_line,
    say,
    warn,
)
from ra.cli.render import local_time, print_table
from ra.cli.source import InvitationSourceArg
from ra.errors import RaError
from ra.inert import inert

if TYPE_CHECKING:
    from ra.invitations.service import Invitations, InvitationView

__all__ = ["DEFAULT_PORT", "FILE_SUFFIX", "app"]

app = group("Invite a helper, and manage your invitations.")

DEFAULT_FILE = Path("RAInvitation" + FILE_SUFFIX)
#: How much of an invitation's name or message a text listing shows (on one line).
SHOWN = 4000


class InvitationInputError(UsageError):
    """Bad invitation input, said in one line."""


@contextmanager
def _service(home: Path | None, *, existing: bool = False) -> Iterator[Invitations]:
    """The invitations of the home's log; `existing`: only a log that is already
    there (an id cannot be found in a log that does not exist: nothing is created)."""
    from ra.events import EventStore
    from ra.invitations.service import Invitations

    h = home_of(home)
    with (open_existing_store(home) if existing else EventStore.open(h)) as store:
        size = store.size()
        try:
            yield Invitations(store, h)
        finally:
            if store.size() != size:
                store.checkpoint()  # every command leaves its events under a signed root


def _read_password(password_stdin: bool, generate: bool) -> tuple[str, bool]:
    from ra.invitations.errors import InvitationError
    from ra.invitations.password import check_strength, generate_password

    if password_stdin and generate:
        raise UsageError("give either --password-stdin or --generate-password, not both")
    if generate:
        return generate_password(), True
    if password_stdin:
        return read_password_line(), False
    if not sys.stdin.isatty():
        raise UsageError(
            "no terminal to ask for a password: use --password-stdin or --generate-password"
        )
    while True:
        password = typer.prompt("Password for this invitation", hide_input=True)
        try:
            check_strength(password)
        except InvitationError as exc:
            warn(f"  {exc}")
            continue
        again = typer.prompt("Repeat the password", hide_input=True)
        if again == password:
            return password, False
        warn("  the two passwords differ; try again")


def _addresses(host: list[str] | None) -> list[str]:
    """What the invitation carries: ``--host`` as given, else every usable address."""
    from ra.net.addresses import invitation_addresses

    if host:
        return list(dict.fromkeys(host))
    found = invitation_addresses()
    if not found:
        raise UsageError(
            "this machine has no network address a helper could reach; give --host ADDRESS "
            "(or --host 127.0.0.1 to try ra on this machine alone)"
        )
    return found


def _smtp_target(smtp: str | None) -> tuple[str, int]:
    if not smtp:
        raise UsageError("--email needs --smtp HOST:PORT (the mail server to send through)")
    host, _, port = smtp.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--smtp {smtp!r} is not HOST:PORT")
    return host, int(port)


def _send_email(service: Invitations, view: InvitationView, *, to: str, smtp: str | None,
                starttls: bool, smtp_user: str | None, smtp_password_env: str | None,
                sender: str | None, cafile: Path | None) -> InvitationView:
    import socket
    import ssl

    from ra.invitations.mail import Letter, send_invitation_email
    from ra.logs import register_secret

    host, port = _smtp_target(smtp)
    service.ensure_can(view, "send")
    secret = None
    if smtp_user and not smtp_password_env:
        raise UsageError("--smtp-user needs --smtp-password-env VAR (the variable holding it)")
    if smtp_password_env:
        secret = os.environ.get(smtp_password_env)
        if secret is None:
            raise UsageError(f"the environment variable {smtp_password_env} is not set")
        register_secret(secret)
    context = ssl.create_default_context(cafile=str(cafile)) if cafile else None
    assert view.expires_at is not None
    letter = Letter(file_bytes=service.file_bytes(view), to=to,
                    sender=sender or f"{view.name} <ra@{socket.gethostname()}>",
                    name=view.name, message=view.message, expires_at=view.expires_at)
    send_invitation_email(letter, smtp_host=host, smtp_port=port, starttls=starttls,
                          username=smtp_user, password=secret, ssl_context=context)
    return service.record_sent(view, "email", to)


def _save(service: Invitations, view: InvitationView, path: Path) -> InvitationView:
    data = service.file_bytes(view)
    service.ensure_can(view, "send")
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from None
    return service.record_sent(view, "file", str(path.resolve()))


@dataclass(frozen=True)
class Delivery:
    """How an invitation goes to its helper: as a file, by mail, as a code line."""

    save: Path | None
    email: str | None
    smtp: str | None
    starttls: bool
    smtp_user: str | None
    smtp_password_env: str | None
    sender: str | None
    smtp_cafile: Path | None
    code: bool

    @property
    def asked(self) -> bool:
        """Whether any way was given (``--save``, ``--email``, ``--code``)."""
        return self.save is not None or self.email is not None or self.code


def _delivery_options(
    save: Annotated[
        Path | None,
        typer.Option("--save", help=f"Write the invitation file here ({DEFAULT_FILE})."),
    ] = None,
    email: Annotated[str | None, typer.Option("--email", help="Mail the invitation to TO.")] = None,
    smtp: Annotated[
        str | None, typer.Option("--smtp", help="Mail server HOST:PORT.", envvar="RA_SMTP")
    ] = None,
    starttls: Annotated[bool, typer.Option("--starttls", help="Encrypt with STARTTLS.")] = False,
    smtp_user: Annotated[
        str | None, typer.Option("--smtp-user", help="Mail server login.")
    ] = None,
    smtp_password_env: Annotated[
        str | None,
        typer.Option("--smtp-password-env", help="Name of the variable holding the mail password."),
    ] = None,
    sender: Annotated[str | None, typer.Option("--from", help="Sender address.")] = None,
    smtp_cafile: Annotated[
        Path | None,
        typer.Option("--smtp-cafile", help="Trust this CA certificate for STARTTLS."),
    ] = None,
    code: Annotated[
        bool, typer.Option("--code", help="Also print the invitation as one line to paste in chat.")
    ] = False,
) -> None:
    """The options that make a `Delivery`, declared once (see `_delivering`)."""


_DELIVERY = signature(_delivery_options, eval_str=True).parameters


def _delivering(before: str) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """A command that takes the delivery options, placed before its parameter `before`
    (in its help too), and receives them as one `Delivery`, its ``delivery`` argument."""

    def register(command: Callable[..., None]) -> Callable[..., None]:
        own = signature(command, eval_str=True)
        params = [p for p in own.parameters.values() if p.name != "delivery"]
        at = [p.name for p in params].index(before)
        params[at:at] = _DELIVERY.values()

        @functools.wraps(command)
        def run(**given: Any) -> None:
            delivery = Delivery(**{name: given.pop(name) for name in _DELIVERY})
            command(**given, delivery=delivery)

        setattr(run, "__signature__", own.replace(parameters=params))  # noqa: B010 - read by typer
        return run

    return register


def _deliver(service: Invitations, view: InvitationView, delivery: Delivery) -> InvitationView:
    """Save, mail and/or print the invitation; each delivery is an `invitation.sent`."""
    if delivery.save is not None:
        view = _save(service, view, delivery.save)
    if delivery.email is not None:
        view = _send_email(service, view, to=delivery.email, smtp=delivery.smtp,
                           starttls=delivery.starttls, smtp_user=delivery.smtp_user,
                           smtp_password_env=delivery.smtp_password_env,
                           sender=delivery.sender, cafile=delivery.smtp_cafile)
    if delivery.code:
        view = service.record_sent(view, "code", "printed")
    return view


@app.command()
@_delivering(before="host")
def create(
    name: Annotated[str, typer.Option("--name", help="Your name, as the helper will see it.")],
    message: Annotated[
        str, typer.Option("--message", help="What you need help with.")
    ] = "",
    expires: Annotated[
        str, typer.Option("--expires", help="How long it stays valid (1h; at most 24h).")
    ] = "1h",
    password_stdin: Annotated[bool, password_stdin_option()] = False,
    generate_pw: Annotated[
        bool,
        typer.Option("--generate-password", help="Make a strong password and show it once."),
    ] = False,
    host: Annotated[
        list[str] | None,
        typer.Option("--host", help="Address the helper should connect to (repeatable; "
                     "default: every address of this machine but loopback)."),
    ] = None,
    port: PortOption = DEFAULT_PORT,
    json_out: JsonOption = False,
    home: HomeOption = None,
    *,
    delivery: Delivery,
) -> None:
    """Create an invitation for a helper; save it as a file, email it, or print it as a code.

    The password is never taken on the command line: it is asked twice, read
    from standard input, or generated. Tell it to your helper another way (by
    phone, in person): it is in no file, mail or log.

    Example:

    \b
        ra invite create --name "Alice" --message "My printer vanished"
        ra invite create --name "Alice" --generate-password --code --expires 30m
    """
    from ra.events.model import format_time
    from ra.invitations.file import format_fingerprint, to_code
    from ra.logs import register_secret

    lifetime = parse_duration(expires)
    password, generated = _read_password(password_stdin, generate_pw)
    register_secret(password)
    if not delivery.asked:
        delivery = replace(delivery, save=DEFAULT_FILE)
    save, email = delivery.save, delivery.email
    if email is not None:
        _smtp_target(delivery.smtp)  # refuse a bad --smtp before anything is created
    from ra.net.addresses import none_public

    addresses = _addresses(host)
    if none_public(addresses):
        warn(f"all of its addresses ({', '.join(addresses)}) are private: a helper outside "
             "this network cannot reach them")
    with _service(home) as service:
        created = service.create(
            name=name, message=message, password=password, expires_in=lifetime,
            addresses=addresses, port=port,
        )
        try:
            view = _deliver(service, created.view, delivery)
        except BaseException as exc:
            _undelivered(service, created.view, exc, password if generated else None)
            raise
    line = to_code(created.file_bytes) if delivery.code else None
    if generated:
        # Shown once, on the terminal only; never in --json output or a log.
        warn(f"Password (shown once, tell your helper by phone or in person): {password}")
    if json_out:
        emit_json({"id": view.id, "file": None if save is None else str(save.resolve()),
                   "expires_at": format_time(view.expires_at) if view.expires_at else None,
                   "status": view.status.value, "email": email, "code": line,
                   "key_fingerprint": view.key_fingerprint,
                   "addresses": view.addresses, "port": view.port})
        return
    say(f"Invitation {view.id} created; it expires at {local_time(view.expires_at)}.")
    if save is not None:
        say(f"Saved as {save}: send this file to your helper.")
    if email is not None:
        say(f"Mailed to {email}.")
    if line is not None:
        say("Paste this line to your helper:")
        say(line)
    say(f"Your key fingerprint: {format_fingerprint(view.key_fingerprint)}")
    say(f"Your helper will connect to {', '.join(view.addresses)} port {view.port}.")
    say("Then run `ra ask` to wait for your helper.")


class NotDelivered(RaError):
    """A new invitation could not be saved or mailed as asked; it was revoked."""


def _undelivered(service: Invitations, view: InvitationView, exc: BaseException,
                 generated: str | None) -> None:
    """A new invitation that did not reach its helper as asked is revoked, with the reason.

    Nobody can use it, so no open invitation is left whose password nobody
    saw. Should even that fail, a generated password is shown after all, so
    the person can still use or end it. Raises `NotDelivered` for an error
    of ours (its own message and code), else returns for the caller to re-raise.
    """
    what = str(exc) if isinstance(exc, RaError) else (
        "interrupted" if isinstance(exc, KeyboardInterrupt) else type(exc).__name__)
    try:
        service.revoke(service.load(view.id), reason=f"not delivered: {what}")
    except Exception:
        if generated is not None:
            warn(f"Password (shown once, tell your helper by phone or in person): {generated}")
        raise exc from None
    if isinstance(exc, RaError):
        error = NotDelivered(f"{what}; invitation {view.id[:8]} is revoked, as it was not "
                             "delivered: run `ra invite create` again")
        error.exit_code = exc.exit_code
        raise error from None


@app.command("list")
def list_cmd(
    all_: Annotated[bool, typer.Option("--all", help="Include ended invitations.")] = False,
    json_out: JsonOption = False,
    jsonl_out: JsonlOption = False,
    home: HomeOption = None,
) -> None:
    """Your invitations, with their status and time left.

    Example:

    \b
        ra invite list
        ra invite list --all --json
    """
    mode = json_mode(json_out, jsonl_out)
    if not has_log(home):  # nothing recorded yet: nothing to list, nothing created
        views, now = [], datetime.now(UTC)
    else:
        with _service(home, existing=True) as service:
            views = service.list(include_ended=all_)
            now = service.clock()
    if mode == "json":
        emit_json([view.to_json(now) for view in views])
        return
    if mode == "jsonl":
        for view in views:
            emit_json(view.to_json(now))
        return
    if not views:
        say("No open invitations." if not all_ else "No invitations.")
        return
    rows = []
    for view in views:
        minutes = int(view.time_left(now).total_seconds() // 60)
        left = f"{minutes // 60}h{minutes % 60:02d}m" if not view.ended else "-"
        rows.append([view.id[:8], view.status.value, left, local_time(view.expires_at),
                     inert(view.name, 40), inert(view.message, 80)])
    print_table(["ID", "STATUS", "TIME LEFT", "EXPIRES", "NAME", "MESSAGE"], rows)


@app.command()
def show(
    invitation: InvitationArg,
    json_out: JsonOption = False,
    home: HomeOption = None,
) -> None:
    """An invitation's status and its whole history from the log.

    Example:

    \b
        ra invite show 3f2a19c0
    """
    from ra.events.model import format_time
    from ra.invitations.file import format_fingerprint

    with _service(home, existing=True) as service:
        view = service.get(invitation)
        now = service.clock()
    if json_out:
        emit_json({**view.to_json(now), "history": [
            {"seq": e.seq, "type": e.type, "occurred_at": format_time(e.occurred_at),
             "actor": str(e.actor), "origin": e.origin, "outcome": e.outcome,
             "payload": {k: v for k, v in e.payload.items() if k != "file"}}
            for e in view.history
        ]})
        return
    say(f"Invitation {view.id}")
    say(f"  from     {inert(view.name, SHOWN)}")
    say(f"  message  {inert(view.message, SHOWN)}")
    say(f"  status   {view.status.value}")
    say(f"  expires  {local_time(view.expires_at)}")
    say(f"  key      {format_fingerprint(view.key_fingerprint)}")
    say("  history:")
    for event in view.history:
        details = {k: v for k, v in event.payload.items()
                   if k not in ("file", "name", "message", "tls_fingerprint", "key_fingerprint")}
        when = local_time(event.occurred_at, seconds=True)
        say(f"    {event.seq:>5}  {when}  {event.type:<20} "
            f"{event.outcome:<8} {inert(event.actor)}  {inert(_brief(details))}")


def _end(invitation: str, home: Path | None, action: str) -> None:
    with _service(home, existing=True) as service:
        view = getattr(service, action)(service.get(invitation))
    say(f"Invitation {view.id[:8]} is now {view.status.value}; it can no longer be used.")


def _ending(action: str, doc: str) -> None:
    """Register ``ra invite <action>``: one invitation ends, by `InvitationService.<action>`."""

    def command(invitation: InvitationArg, home: HomeOption = None) -> None:
        _end(invitation, home, action)

    command.__name__ = action
    command.__doc__ = f"""{doc}

    Example:

    \b
        ra invite {action} 3f2a19c0
    """
    app.command(action)(command)


_ending("expire", "Expire an invitation now (final: a later connection with it is refused).")
_ending("revoke", "Revoke an invitation (final), for one sent to the wrong person.")
_ending("delete", "Delete an invitation (final). Its history stays in the log.")


@app.command()
@_delivering(before="home")
def resend(invitation: InvitationArg, home: HomeOption = None, *, delivery: Delivery) -> None:
    """Send the same invitation again, as a file, by email or as a code.

    Example:

    \b
        ra invite resend 3f2a19c0 --save RAInvitation.rainv
        ra invite resend 3f2a19c0 --code
    """
    from ra.invitations.file import to_code

    if not delivery.asked:
        raise UsageError("say how to resend: --save FILE, --email TO or --code")
    with _service(home, existing=True) as service:
        view = _deliver(service, service.get(invitation), delivery)
        if delivery.code:
            say(to_code(service.file_bytes(view)))
    say(f"Invitation {view.id[:8]} sent again ({len(view.sent)} deliveries so far).")


@app.command()
def inspect(
    source: InvitationSourceArg,
    json_out: JsonOption = False,
) -> None:
    """For the helper: who sent an invitation, their message, expiry, and whether it is genuine.

    Exits non-zero when the signature does not hold or the invitation has
    expired. Confirm the key fingerprint with the person (by phone) before
    you connect.

    Example:

    \b
        ra invite inspect RAInvitation.rainv
        ra invite inspect ra1:... --json
        ra invite inspect - < pasted.txt
    """
    from ra.cli.source import read_invitation
    from ra.events.model import format_time
    from ra.invitations.errors import InvitationExpiredError
    from ra.invitations.file import format_fingerprint, key_fingerprint, parse_invitation

    data = read_invitation(source)
    now = datetime.now(UTC)
    invitation = parse_invitation(data, check_expiry=False)  # signature and format
    expired = now >= invitation.expires_at
    fingerprint = key_fingerprint(invitation.signing_key)
    if json_out:
        emit_json({
            "id": invitation.invitation_id, "name": invitation.name,
            "message": invitation.message,
            "created_at": format_time(invitation.created_at),
            "expires_at": format_time(invitation.expires_at), "expired": expired,
            "signature": "valid", "key_fingerprint": fingerprint,
            "tls_fingerprint": invitation.tls_fingerprint,
            "addresses": list(invitation.addresses), "port": invitation.port,
        })
    else:
        # Name and message come from whoever wrote the file: each stays on its
        # line, so no line below can be forged.
        say(f"Invitation {invitation.invitation_id}")
        say(f"  from       {inert(invitation.name, SHOWN)}")
        say(f"  message    {inert(invitation.message, SHOWN)}")
        ended = "  (EXPIRED)" if expired else ""
        say(f"  expires    {local_time(invitation.expires_at)}{ended}")
        say(f"  connect to {', '.join(invitation.addresses)} port {invitation.port}")
        say(f"  signed by  {format_fingerprint(fingerprint)}  (signature valid)")
        say("Confirm this fingerprint with the person before you connect.")
    if expired:
        raise InvitationExpiredError(invitation.expires_at)


def _brief(payload: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(payload.items()))
