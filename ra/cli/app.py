"""The `ra` command: Remote Assistance you can audit."""

from __future__ import annotations

import sys

import click
import typer

from ra import __version__
from ra.cli import audit, demo, doctor, invite, session
from ra.errors import RaError
from ra.logs import configure_logging

app = typer.Typer(
    name="ra",
    help=(
        "Remote Assistance you can audit: invite a helper, consent to being viewed and "
        "controlled, take control back with Esc; every step is kept in a tamper-evident log."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(invite.app, name="invite")
app.command("ask")(session.ask)
app.command("connect")(session.connect)
app.add_typer(audit.app, name="audit")
app.command("demo")(demo.demo)
app.command("doctor")(doctor.doctor)
app.add_typer(doctor.app, name="firewall")


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ra {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Remote Assistance you can audit."""


def main() -> None:
    """The console script."""
    sys.exit(run())


def run(argv: list[str] | None = None) -> int:
    """Run the CLI: library errors become one clear line and an exit code."""
    configure_logging()
    try:
        result = app(args=argv, prog_name="ra", standalone_mode=False)
    except RaError as exc:
        typer.echo(f"ra: {exc}", err=True)
        return exc.exit_code
    except click.exceptions.Abort:
        typer.echo("ra: interrupted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        typer.echo("ra: interrupted", err=True)
        return 130
    except BrokenPipeError:
        return 0
    return result if isinstance(result, int) else 0
