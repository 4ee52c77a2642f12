"""`python -m ra.session.runner ask|connect ...`: the `ra` command with the session
commands registered, until `ra/cli/app.py` registers them itself."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from ra.cli import session
    from ra.cli.app import app, run

    names = {command.name for command in app.registered_commands}
    if "ask" not in names:
        app.command("ask")(session.ask)
    if "connect" not in names:
        app.command("connect")(session.connect)
    return run(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    sys.exit(main())
