"""The command line's edges, through the real entry point: every usage error is
one line on stderr and exit code 2, never a traceback; `-h` everywhere; an
example in every command's help; completion; docs/cli.md in step with the
commands; and a start that imports only what the command needs.

The commands are enumerated from the app itself, so a new command is covered
without touching this file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pexpect
import pytest
import typer

from ra.cli.app import app
from ra.home import Home

ROOT = Path(__file__).resolve().parents[1]


def _tree() -> list[tuple[tuple[str, ...], Any]]:
    """Every command path with its command object, groups included, root first."""
    found: list[tuple[tuple[str, ...], Any]] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        found.append((path, command))
        for name, sub in getattr(command, "commands", {}).items():
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return found


TREE = _tree()
GROUPS = [path for path, command in TREE if hasattr(command, "commands")]
LEAVES = [path for path, command in TREE if not hasattr(command, "commands")]
COMMANDS = {path: command for path, command in TREE}


def _label(path: tuple[str, ...]) -> str:
    return " ".join(("ra", *path))


def _usage_cases() -> list[tuple[tuple[str, ...], str, list[str]]]:
    """(command, case, arguments) for every usage error each command can be given."""
    cases: list[tuple[tuple[str, ...], str, list[str]]] = []
    for path, command in TREE:
        cases.append((path, "unknown option", ["--no-such-option"]))
        if path in GROUPS:
            cases.append((path, "unknown command", ["no-such-command"]))
            continue
        params = [p for p in command.params if p.name != "help"]
        if any(p.required for p in params):
            cases.append((path, "missing argument", []))
        valued = [p for p in params if p.param_type_name == "option" and not p.is_flag]
        if valued:
            # An option given last without its value.
            cases.append((path, "missing value", [valued[0].opts[0]]))
        for p in params:
            low, high = getattr(p.type, "min", None), getattr(p.type, "max", None)
            if low is None and high is None:
                continue
            value = str(low - 1) if low is not None else str(high + 1)
            given = [p.opts[0], value] if p.param_type_name == "option" else ["--", value]
            cases.append((path, f"{p.name} out of range", given))
    return cases


USAGE_CASES = _usage_cases()


def _one_line_usage_error(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), result.stderr
    assert lines[0].startswith("ra: ")


def test_the_cases_cover_every_kind_of_usage_error() -> None:
    kinds = {case.split()[-1] if "range" in case else case for _, case, _ in USAGE_CASES}
    assert kinds == {"unknown option", "unknown command", "missing argument",
                     "missing value", "range"}
    assert ("invite", "list") in LEAVES and ("audit", "verify") in LEAVES
    assert {("invite",), ("audit",), ()} <= set(GROUPS)


@pytest.mark.parametrize(("path", "case", "args"), USAGE_CASES,
                         ids=[f"{_label(p)}: {c}" for p, c, _ in USAGE_CASES])
def test_a_usage_error_is_one_line_and_exit_2(  # type: ignore[no-untyped-def]
    ra, path: tuple[str, ...], case: str, args: list[str]
) -> None:
    _one_line_usage_error(ra(*path, *args))


@pytest.mark.parametrize("path", GROUPS, ids=_label)
def test_a_group_without_its_command_prints_its_help_and_exits_2(  # type: ignore[no-untyped-def]
    ra, path: tuple[str, ...]
) -> None:
    result = ra(*path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith(f"Usage: {_label(path)} ")
    assert "Commands:" in result.stderr


@pytest.mark.parametrize("path", [p for p, _ in TREE], ids=_label)
def test_dash_h_is_help_everywhere(ra, path: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    result = ra(*path, "-h")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"Usage: {_label(path)} ")
    assert "-h, --help" in result.stdout
    assert result.stderr == ""


@pytest.mark.parametrize("path", LEAVES, ids=_label)
def test_every_command_help_ends_with_an_example_of_itself(path: tuple[str, ...]) -> None:
    command = COMMANDS[path]
    ctx = typer.Context(command, info_name=_label(path), terminal_width=80)
    text = command.get_help(ctx)
    _, marker, example = text.partition("\n  Example:\n")
    assert marker, f"{_label(path)} --help has no Example: section"
    example = example.split("\n\nOptions:")[0].split("\n\nArguments:")[0]
    lines = [line.strip() for line in example.splitlines() if line.strip()]
    assert lines and all(line.startswith(_label(path) + " ") or line == _label(path)
                         for line in lines), lines


def test_the_console_script_reports_a_usage_error_in_one_line(home: Home) -> None:
    script = shutil.which("ra", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("no `ra` console script beside this interpreter")
    env = {**os.environ, "RA_HOME": str(home.root),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    for args in (["--no-such-option"], ["invite", "show"], ["audit", "log", "-n", "0"]):
        result = subprocess.run([script, *args], capture_output=True, text=True, env=env,
                                timeout=60)
        _one_line_usage_error(result)
    bare = subprocess.run([script], capture_output=True, text=True, env=env, timeout=60)
    assert bare.returncode == 2 and "Traceback" not in bare.stderr
    assert bare.stderr.startswith("Usage: ra ") and bare.stdout == ""


def _spawn_at_password_prompt(home: Home) -> pexpect.spawn:
    env = {**os.environ, "RA_HOME": str(home.root),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    child = pexpect.spawn(sys.executable, ["-m", "ra", "invite", "create", "--name", "Alice"],
                          env=env, encoding="utf-8", timeout=60)
    child.expect_exact("Password for this invitation: ")
    # getpass flushes pending input when it turns echo off: send keys only after.
    assert child.waitnoecho(timeout=60)
    return child


def test_ctrl_c_at_a_prompt_ends_with_one_line_and_exit_130(home: Home) -> None:
    child = _spawn_at_password_prompt(home)
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    after = child.before.strip().splitlines()
    assert after == ["ra: interrupted"], child.before
    assert child.exitstatus == 130
    assert not home.database.exists(), "nothing was created"


def test_ctrl_d_at_a_prompt_ends_with_one_line(home: Home) -> None:
    child = _spawn_at_password_prompt(home)
    child.sendeof()
    child.expect(pexpect.EOF)
    child.close()
    after = [line for line in child.before.strip().splitlines() if line.strip()]
    assert after == ["ra: cancelled (no input)"], child.before
    assert child.exitstatus == 1
    assert not home.database.exists(), "nothing was created"


def test_completion_can_be_shown_installed_and_answers(ra) -> None:  # type: ignore[no-untyped-def]
    assert "--install-completion" in ra("-h", check=True).stdout
    # typer finds the shell from the processes above it (shellingham), which under make is
    # sh; its own switch makes the option take the shell by name instead.
    script = ra("--show-completion", "bash", check=True,
                env={"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}).stdout
    assert "_RA_COMPLETE" in script
    answer = ra(env={"_RA_COMPLETE": "complete_bash", "COMP_WORDS": "ra invite l",
                     "COMP_CWORD": "2"}, check=True)
    assert answer.stdout.split() == ["list"]


def test_docs_cli_md_is_generated_from_the_commands() -> None:
    from ra.cli.docs import render

    page = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert page == render(), "docs/cli.md is stale: python -m ra.cli.docs --out docs/cli.md"
    for path in LEAVES:
        assert f"\n## {_label(path)}\n" in page


HEAVY = ("numpy", "websockets", "Xlib", "mss", "pynput", "simplejpeg", "structlog", "PIL", "av",
         "pydantic", "ra.session", "ra.desktop", "ra.net", "ra.viewer")
#: The other commands' modules: a command line builds only the command it names.
OTHER_COMMANDS = ("ra.cli.audit", "ra.cli.export", "ra.cli.forget", "ra.cli.doctor",
                  "ra.cli.session", "ra.cli.demo")
#: What `ra invite` imports only inside the commands that use them.
INVITE_INSIDE = ("ra.events.model", "ra.invitations.password", "ra.logs", "ra.invitations.file",
                 "ra.invitations.service")
#: Left out per command line (beyond HEAVY). `ra invite list` on a pipe writes its table
#: without rich's console.
LEFT_OUT: dict[str, tuple[str, ...]] = {
    "--help": ("sqlite3", "rich", "cryptography", "ra.events.store"),
    "invite --help": (*OTHER_COMMANDS, *INVITE_INSIDE, "sqlite3", "rich", "cryptography"),
    "invite list": (*OTHER_COMMANDS, "rich.console", "rich.table", "cryptography.x509"),
    "audit log -n 1": ("ra.cli.invite", "ra.cli.doctor", "ra.cli.session", "ra.cli.demo"),
}


def _matches(module: str, names: tuple[str, ...]) -> bool:
    return module in names or module.startswith(tuple(f"{name}." for name in names))


@pytest.mark.parametrize("args", [["--help"], ["invite", "--help"], ["invite", "list"],
                                  ["audit", "log", "-n", "1"]], ids=" ".join)
def test_a_command_imports_only_what_it_needs(ra, home: Home, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    """The desktop, codec, network and logging stacks, and the other commands, stay out of
    a command line that does not use them (`python -m bench startup` says how fast it is)."""
    code = ("import sys\nfrom ra.cli.app import run\ncode = run(sys.argv[1:])\n"
            "sys.stderr.write('\\nMODULES ' + ' '.join(sorted(sys.modules)) + '\\n')\n"
            "sys.exit(code)\n")
    env = {**os.environ, "RA_HOME": str(home.root)}
    # A log to read, with an invitation to list: reading commands refuse a home without.
    ra("invite", "create", "--name", "Ann", "--generate-password", "--code", check=True)
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    if args == ["invite", "list"]:
        assert "Ann" in result.stdout  # it did read the log
    loaded = result.stderr.rsplit("MODULES ", 1)[1].split()
    heavy = sorted(m for m in loaded if _matches(m, HEAVY))  # not ra.session_keys
    assert heavy == []
    assert sorted(m for m in loaded if _matches(m, LEFT_OUT[" ".join(args)])) == []


def test_the_cli_defaults_are_the_librarys() -> None:
    from ra.cli import invite
    from ra.invitations import FILE_SUFFIX
    from ra.invitations.service import DEFAULT_PORT

    assert (invite.FILE_SUFFIX, invite.DEFAULT_PORT) == (FILE_SUFFIX, DEFAULT_PORT)


@pytest.mark.parametrize("args", [["\x1b[2Jx\ny"], ["invite", "show", "--\x1b]0;owned\x07"]],
                         ids=["command", "option"])
def test_control_characters_in_a_bad_argument_are_shown_inert(ra, args: list[str]) -> None:  # type: ignore[no-untyped-def]
    result = ra(*args)
    _one_line_usage_error(result)
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr
    assert "\\x1b" in result.stderr
