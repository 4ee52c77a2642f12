"""`docs/cli.md`, generated from the command tree: ``python -m ra.cli.docs [--out FILE]``.

Every command's help, as ``ra ... --help`` prints it at 80 columns, in the
order the commands are registered; the text comes from the command tree
(`typer.main.get_command`), so the page cannot say anything the commands do
not. A test renders it again and compares it with the file.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import typer

WIDTH = 80

HEADER = """\
# The `ra` command line

Generated from the commands themselves by `python -m ra.cli.docs --out docs/cli.md`;
do not edit by hand (a test checks that this page matches the commands).
Every command takes `-h` or `--help`, and every usage error is one line on
stderr with exit code 2.
"""


def _walk(command: Any, ctx: typer.Context) -> Iterator[tuple[Any, typer.Context]]:
    yield command, ctx
    for name, sub in getattr(command, "commands", {}).items():
        child = typer.Context(sub, info_name=name, parent=ctx, terminal_width=WIDTH,
                              max_content_width=WIDTH, **sub.context_settings)
        yield from _walk(sub, child)


def render() -> str:
    """The whole page, from the app's command tree."""
    from ra.cli.app import app

    root = typer.main.get_command(app)
    top = typer.Context(root, info_name="ra", terminal_width=WIDTH, max_content_width=WIDTH,
                        **root.context_settings)
    sections: list[tuple[str, str, str]] = []
    for command, ctx in _walk(root, top):
        summary = command.get_short_help_str(limit=2 * WIDTH)
        sections.append((ctx.command_path, summary, command.get_help(ctx)))
    lines = [HEADER, "## Commands", ""]
    for path, summary, _ in sections:
        anchor = path.replace(" ", "-")
        lines.append(f"- [`{path}`](#{anchor}): {summary}")
    for path, _, text in sections:
        lines += ["", f"## {path}", "", "```text", text.rstrip(), "```"]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ra.cli.docs", description=__doc__)
    parser.add_argument("--out", type=Path, help="write the page here (default: stdout)")
    args = parser.parse_args(argv)
    text = render()
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
