"""`ra demo`: the main job, on a scratch folder."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from ra.cli.common import say


def demo(
    home: Annotated[
        Path | None,
        typer.Option("--home", help="Run in this folder (default: a scratch folder, removed)."),
    ] = None,
    keep: Annotated[bool, typer.Option("--keep", help="Keep the scratch folder.")] = False,
    log_only: Annotated[
        bool, typer.Option("--log-only", help="Only the log part: no desktop, no browser.")
    ] = False,
    screenshots: Annotated[
        Path, typer.Option("--screenshots",
                           help="Where the screenshots of both sides go (kept).")
    ] = Path("ra-demo-screenshots"),
) -> None:
    """A whole session on a virtual desktop (Xvfb, xterm, Chromium), then its log at work.

    Alice invites Bob, consents to being viewed and controlled, takes control
    back with Esc; they chat and disconnect. Then her log is verified,
    exported, and a tampered copy is caught. `--log-only` shows the log part
    alone (append, checkpoint, verify, tamper, catch). The screenshots of
    both sides are kept in --screenshots, whatever happens to the scratch folder.

    Example:

    \b
        ra demo
        ra demo --screenshots /tmp/shots
        ra demo --log-only
    """
    scratch = Path(tempfile.mkdtemp(prefix="ra-demo-")) if home is None else home
    scratch.mkdir(parents=True, exist_ok=True)
    keep = keep or home is not None
    try:
        if log_only:
            from ra.demo.log import log_story

            log_story(scratch)
        else:
            from ra.demo.session import session_story

            shots = screenshots.resolve()
            try:
                session_story(scratch, shots)
            finally:
                say(f"\nScreenshots of both sides (kept): {shots}")
    finally:
        if not keep:
            shutil.rmtree(scratch, ignore_errors=True)
        else:
            say(f"\n(kept {scratch})")
