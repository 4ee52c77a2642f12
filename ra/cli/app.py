"""The `ra` command: Remote Assistance you can audit.

Every way a command line can be wrong ends the same way: one line on stderr,
`ra: ...`, and exit code 2 (a library error: its own line and code; Ctrl-C:
130). Nothing reaches the user as a traceback. The parser's errors are typer's
own exception classes (typer vendors its parser), caught here through the
names typer exports: `typer.TyperException` (every usage and parse error,
with its `exit_code`), `typer.Abort` and `typer.Exit`.

`ra` with no arguments, or a group (`ra invite`) without its command, prints
that group's help on stderr and exits 2: it is a usage error that happens to
have a long answer. `-h` is `--help` everywhere.

Start-up is part of the interface (see `python -m bench startup`). `run`
builds only the command the line names (`ra invite list`: the root and the
`invite` group, from `ra.cli.invite` alone); the whole tree (`app`, built on
first use) serves the root's own help, completion, an unknown command and
docs/cli.md. Each command module imports what a command needs inside it.
"""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Iterable
from typing import Any

import typer

from ra import __version__
from ra.cli.common import CONTEXT_SETTINGS, help_when_no_command
from ra.errors import RaError

#: The commands in the order the help lists them: name, then where it is, as an entry
#: point ("module:name") naming a group (a `typer.Typer`) or a command (a function).
COMMANDS: dict[str, str] = {
    "invite": "ra.cli.invite:app",
    "ask": "ra.cli.session:ask",
    "connect": "ra.cli.session:connect",
    "audit": "ra.cli.audit:app",
    "demo": "ra.cli.demo:demo",
    "doctor": "ra.cli.doctor:doctor",
    "firewall": "ra.cli.doctor:app",
}


def _version(value: bool) -> None:
    if value:
        typer.echo(f"ra {__version__}")
        raise typer.Exit()


def root(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Remote Assistance you can audit."""
    help_when_no_command(ctx)


def build(names: Iterable[str] = COMMANDS) -> typer.Typer:
    """The `ra` command with the commands `names` (all by default), in help order."""
    built = typer.Typer(
        name="ra",
        help=(
            "Remote Assistance you can audit: invite a helper, consent to being viewed and "
            "controlled, take control back with Esc; every step is kept in a tamper-evident log."
        ),
        invoke_without_command=True,
        context_settings=CONTEXT_SETTINGS,
        rich_markup_mode=None,
        pretty_exceptions_enable=False,
        add_completion=True,
    )
    built.callback()(root)
    for name in names:
        module, _, attribute = COMMANDS[name].partition(":")
        command = getattr(importlib.import_module(module), attribute)
        if isinstance(command, typer.Typer):
            built.add_typer(command, name=name)
        else:
            built.command(name)(command)
    return built


@functools.cache
def whole() -> typer.Typer:
    """The whole command tree, built once."""
    return build()


def __getattr__(name: str) -> Any:
    """`app`: the whole command tree, built on first use."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return whole()


def _for(argv: list[str]) -> typer.Typer:
    """The command tree a command line needs: the command it names alone, or all
    (no command, an option first, an unknown name, or the shell asking to complete)."""
    if argv and argv[0] in COMMANDS and "_RA_COMPLETE" not in os.environ:
        return build([argv[0]])
    return whole()


def main() -> None:
    """The console script."""
    sys.exit(run())


def run(argv: list[str] | None = None) -> int:
    """Run the CLI: every error becomes one clear line and an exit code.

    Logging is configured on first use (`ra.logs.get_logger`), not here:
    commands that log nothing never import structlog.
    """
    try:
        args = sys.argv[1:] if argv is None else argv
        result: Any = _for(args)(args=args, prog_name="ra", standalone_mode=False)
    except RaError as exc:
        typer.echo(f"ra: {exc}", err=True)
        return exc.exit_code
    except typer.TyperException as exc:
        return _usage_error(exc)
    except typer.Abort as exc:
        # A prompt ended by Ctrl-C or Ctrl-D: typer raises Abort for both, in
        # the handler of the KeyboardInterrupt or EOFError (kept as __context__).
        if isinstance(exc.__context__, KeyboardInterrupt):
            typer.echo("ra: interrupted", err=True)
            return 130
        typer.echo("ra: cancelled (no input)", err=True)
        return 1
    except typer.Exit as exc:
        return exc.exit_code
    except KeyboardInterrupt:
        typer.echo("ra: interrupted", err=True)
        return 130
    except BrokenPipeError:
        return 0
    code = result if isinstance(result, int) else 0
    if code == 130:
        # typer turns Ctrl-C inside a command into Exit(130) and returns its code.
        typer.echo("ra: interrupted", err=True)
    return code


def _usage_error(exc: typer.TyperException) -> int:
    """One line for a parse error: what is wrong, and where the help is."""
    words = " ".join(exc.format_message().split())
    message = "".join(c if c.isprintable() else repr(c)[1:-1] for c in words)
    ctx = getattr(exc, "ctx", None)
    hint = f" (see '{ctx.command_path} -h')" if ctx is not None else ""
    typer.echo(f"ra: {message}{hint}", err=True)
    return exc.exit_code
