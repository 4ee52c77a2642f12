"""How fast `ra` starts: ``python -m bench startup [--runs N] [--imports] [--baseline DIR]``.

Each command runs in a fresh process (``python -m ra ...``, the interpreter
running this bench, this tree's `ra` first on ``PYTHONPATH``), the commands
interleaved round by round so that a busy moment on the machine is shared
among them rather than landing on one. The wall time of each run is taken
around ``subprocess.run`` (start, import, parse, run, exit), and its CPU time
(user + system, from the children's rusage: less sensitive to other work on a
shared machine than the wall time); the report gives the median and the
fastest run of each, and the median less that of
``python -c pass`` (the interpreter's own start, which no change to `ra` can
remove). Compiled modules are cached (``PYTHONPYCACHEPREFIX`` in the scratch
folder, written by a warm-up run), as they are once `ra` is installed.

Commands measured: ``ra --help``, ``ra invite --help``, ``ra invite list``
(on a scratch RA_HOME holding three invitations, so that the list opens the
log and reads it), ``ra audit log -n 1`` (the same log), beside
``python -c pass`` and ``python -c "import typer"`` (the floor a typer
command line starts from).

``--imports`` adds, for ``ra invite list``, the modules that cost most to
import (``python -X importtime``, self time summed by top-level package):
where the rest of the time goes.

``--baseline DIR`` measures another tree of `ra` too (e.g. the one before a
change, ``git archive main | tar -x -C DIR``), its ``ra`` commands interleaved
with this tree's on the same home, each row marked ``[baseline]``: a before
and after taken under the same load.

The report goes to stdout and to ``bench/results/startup-<date>.txt``.
"""

from __future__ import annotations

import argparse
import collections
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

COMMANDS: list[tuple[str, list[str]]] = [
    ("python -c pass", ["-c", "pass"]),
    ("python -c 'import typer'", ["-c", "import typer"]),
    ("ra --help", ["-m", "ra", "--help"]),
    ("ra invite --help", ["-m", "ra", "invite", "--help"]),
    ("ra invite list", ["-m", "ra", "invite", "list"]),
    ("ra audit log -n 1", ["-m", "ra", "audit", "log", "-n", "1"]),
]


def _env(home: Path, tree: Path = ROOT) -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "RA_HOME": str(home),
           "PYTHONPATH": str(tree) if not path else f"{tree}{os.pathsep}{path}",
           # Compiled modules cached as on any installed system (the warm-up
           # writes them), in the scratch folder rather than the source tree.
           "PYTHONPYCACHEPREFIX": str(home.parent / "pycache"),
           # `-m ra` finds `ra` on PYTHONPATH (this tree or the baseline), not
           # in the folder the bench runs from.
           "PYTHONSAFEPATH": "1"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def _prepare(home: Path) -> None:
    """A log with three invitations in it, made by `ra invite create`."""
    env = _env(home)
    for n in range(3):
        subprocess.run(
            [sys.executable, "-m", "ra", "invite", "create", "--name", f"Bench {n}",
             "--generate-password", "--save", str(home.parent / f"bench-{n}.rainv"),
             "--json"],
            env=env, check=True, capture_output=True,
        )


def _time_once(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall time and CPU time (user + system) of one run, in seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, *argv], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def commands(home: Path, baseline: Path | None) -> list[tuple[str, list[str], dict[str, str]]]:
    """(name, argv, environment) of each command measured, the baseline's after this tree's."""
    env = _env(home)
    found = [(name, argv, env) for name, argv in COMMANDS]
    if baseline is not None:
        before = _env(home, baseline)
        found += [(f"{name} [baseline]", argv, before) for name, argv in COMMANDS
                  if argv[:2] == ["-m", "ra"]]
    return found


def measure(runs: int, measured: list[tuple[str, list[str], dict[str, str]]]
            ) -> dict[str, list[tuple[float, float]]]:
    times: dict[str, list[tuple[float, float]]] = {name: [] for name, _, _ in measured}
    for _name, argv, env in measured:  # one warm-up each: the page cache, .pyc files
        _time_once(argv, env)
    for _ in range(runs):
        for name, argv, env in measured:
            times[name].append(_time_once(argv, env))
    return times


def import_costs(home: Path, top: int = 15) -> list[tuple[str, float]]:
    """Self import time (ms) of `ra invite list`, summed by top-level package."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ra", "invite", "list"],
        env=_env(home), capture_output=True, text=True, check=True,
    )
    costs: collections.Counter[str] = collections.Counter()
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, _cumulative, name = line.removeprefix("import time:").split("|")
        parts = name.strip().split(".")
        key = ".".join(parts[:2]) if parts[0] == "ra" else parts[0]
        costs[key] += int(self_us)
    return [(name, us / 1000) for name, us in costs.most_common(top)]


def report(times: dict[str, list[tuple[float, float]]], runs: int) -> list[str]:
    def ms(value: float) -> str:
        return f"{value * 1000:>8.1f}ms"

    floor = statistics.median(wall for wall, _ in times["python -c pass"])
    lines = [
        f"ra start-up, {runs} runs each, interleaved; {sys.executable} "
        f"(Python {sys.version.split()[0]}), {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}",
        f"{'command':<40}{'wall median':>12}{'fastest':>10}{'- python':>10}{'cpu median':>12}",
    ]
    for name in times:
        walls = [wall for wall, _ in times[name]]
        median = statistics.median(walls)
        cpu = statistics.median(c for _, c in times[name])
        lines.append(f"{name:<40}{ms(median):>12}{ms(min(walls))}{ms(median - floor)}"
                     f"{ms(cpu):>12}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench startup", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=21, help="runs of each command (21)")
    parser.add_argument("--imports", action="store_true",
                        help="also list what `ra invite list` spends importing")
    parser.add_argument("--out", type=Path, default=None, help="write the report here too")
    parser.add_argument("--baseline", type=Path, default=None, metavar="DIR",
                        help="another tree of ra to measure beside this one")
    args = parser.parse_args(argv)
    if args.baseline is not None and not (args.baseline / "ra" / "__main__.py").is_file():
        parser.error(f"--baseline {args.baseline}: no ra/__main__.py there")
    scratch = Path(tempfile.mkdtemp(prefix="ra-bench-startup-"))
    try:
        home = scratch / "home"
        _prepare(home)
        lines = report(measure(args.runs, commands(home, args.baseline)), args.runs)
        if args.imports:
            lines.append("")
            lines.append("`ra invite list`, import self time by package (one run, -X importtime):")
            lines.extend(f"  {ms:7.1f}ms  {name}" for name, ms in import_costs(home))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    out = args.out or RESULTS / f"startup-{datetime.now(UTC):%Y%m%d-%H%M%S}.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    return 0
