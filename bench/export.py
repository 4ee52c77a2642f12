"""Signed exports over a big log: ``python -m bench export [--events N] [--sessions S]
[--keep DIR]``.

Generates a log of N events (default 1,000,000) in S sessions (default
10,000) in a scratch RA_HOME (or in ``DIR/home`` with ``--keep DIR``, where a
later run with the same ``--keep`` reuses the log instead of writing it
again; the bundles are written next to it and removed after each run),
written fast: one append per stream, with ``synchronous=NORMAL``. Each
session is an invitation (created, opened, accepted) and a session stream:
connected, authenticated, view asked and granted, control asked and granted,
refused input, released by Esc, chat messages to make up its share of
events, and the end. Then it runs, each in a fresh process (``python -m
ra``, this tree first on ``PYTHONPATH``), ``--repeat`` times:

- ``ra audit export --what consent`` (the compliance team's usual export),
- ``ra audit export --what all`` (every row of every export),
- ``ra audit verify-export`` of the second, with an empty RA_HOME,

and reports for each the median wall time and peak resident memory (the
command's own ``ru_maxrss``, started by a small launcher: see `LAUNCHER`).
Targets: under 30 s and under 500 MB for an export of the full-size log. The
report goes to stdout and ``bench/results/export-<date>.txt``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
T0 = datetime(2026, 1, 5, 8, 0, 0, tzinfo=UTC)


def generate(home: Path, events: int, sessions: int) -> int:
    """Write the log; return how many events it holds."""
    from ra.events import Actor, EventStore, NewEvent
    from ra.home import Home

    person = Actor("person", "alice")
    system = Actor("system", "ra")
    per = max(events // sessions, 20)
    with EventStore.open(Home.at(home), sync="NORMAL") as store:
        for n in range(sessions):
            at = T0 + timedelta(minutes=n)
            helper = Actor("helper", f"helper-{n % 97}", f"{n % 97:064x}")
            inv = f"{n:08x}-0000-4000-8000-000000000000"
            sid = f"{n:08x}-1111-4000-8000-000000000000"
            address = f"198.51.100.{n % 250}"
            store.append(f"invitation:{inv}", 0, [
                NewEvent("invitation.created", {"name": f"person-{n % 500}", "message": "help",
                                                "expires_at": "2026-12-31T00:00:00.000000Z"},
                         person),
                NewEvent("invitation.opened", {"origin": address}, helper, origin=address),
                NewEvent("invitation.accepted", {"origin": address, "session_id": sid}, helper,
                         origin=address),
            ], now=at)
            head = [
                NewEvent("session.connected", {"peer": helper.id}, helper),
                NewEvent("session.authenticated", {"helper": helper.id,
                                                   "fingerprint": helper.key,
                                                   "address": address}, helper),
                NewEvent("consent.requested", {"scope": "view"}, helper),
                NewEvent("consent.granted", {"scope": "view"}, person),
                NewEvent("view.started", {}, system),
                NewEvent("control.requested", {}, helper),
                NewEvent("consent.requested", {"scope": "control"}, helper),
                NewEvent("consent.granted", {"scope": "control"}, person),
                NewEvent("control.granted", {}, person),
                NewEvent("input.rejected", {"count": 3, "kinds": {"key": 3},
                                            "reasons": {"esc is never injected": 3},
                                            "states": {"controlling": 3}}, helper, "failure"),
                NewEvent("control.released", {"by": "person", "via": "esc"}, person),
            ]
            tail = [NewEvent("session.disconnected", {"by": "helper", "reason": "helper"},
                             helper)]
            chat = [NewEvent("chat.message", {"from": "helper", "text": f"step {i}"}, helper)
                    for i in range(per - 3 - len(head) - len(tail))]
            store.append(f"session:{sid}", 0, head + chat + tail, now=at + timedelta(seconds=5))
        return store.size()


#: A small process that starts the measured one and reports its rusage. On Linux a
#: child's ru_maxrss starts at the resident size of whoever forked it (exec keeps
#: the high-water mark of the memory it replaces, and vfork or posix_spawn share
#: the parent's), so the bench, which may hold a big log's generation in memory,
#: does not fork the measured process itself: this launcher (about 10 MiB) does.
LAUNCHER = """\
import json, os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
print(json.dumps([time.perf_counter() - start, usage.ru_maxrss,
                  os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime]))
"""


def run_ra(args: list[str], home: Path) -> tuple[float, float, float]:
    """(seconds, peak MiB, CPU seconds) of ``python -m ra ARGS`` in a fresh process of
    its own.

    The peak is that process's ``ru_maxrss`` (`os.wait4` on its pid, in
    `LAUNCHER`), so no other process's memory is in it; the CPU seconds (user and
    system) are its own too: on a busy machine they say more than the wall time."""
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "RA_HOME": str(home),
           "PYTHONPATH": str(ROOT) if not path else f"{ROOT}{os.pathsep}{path}"}
    done = subprocess.run([sys.executable, "-c", LAUNCHER, "-m", "ra", *args], env=env,
                          stdout=subprocess.PIPE, check=False, text=True)
    try:
        seconds, max_rss_kib, code, cpu = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise SystemExit(f"bench: `ra {' '.join(args)}` could not be measured") from None
    if code != 0 or done.returncode != 0:
        raise SystemExit(f"bench: `ra {' '.join(args)}` failed")
    return seconds, max_rss_kib / 1024, cpu  # ru_maxrss: KiB on Linux


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench export")
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=10_000)
    parser.add_argument("--keep", type=Path,
                        help="Generate the log into (or reuse it from) this folder.")
    parser.add_argument("--repeat", type=int, default=1,
                        help="Run each command this many times; the median is reported.")
    args = parser.parse_args(argv)
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="ra-bench-export-"))
    home = scratch / "home"
    try:
        if (home / "ra.db").exists():
            from ra.events import EventStore
            from ra.home import Home

            with EventStore.open(Home.at(home)) as store:
                size = store.size()
            lines = [f"log: {size:,} events (reused from {home})"]
        else:
            start = time.perf_counter()
            size = generate(home, args.events, args.sessions)
            made = time.perf_counter() - start
            lines = [f"log: {size:,} events in {args.sessions:,} sessions, written in "
                     f"{made:.1f} s ({size / made:,.0f} events/s)"]
        print(lines[-1], flush=True)
        runs = [
            ("export --what consent (csv)", ["audit", "export", "--what", "consent", "-q",
                                             "--out", str(scratch / "consent")], home),
            ("export --what all (csv)", ["audit", "export", "--what", "all", "-q",
                                         "--out", str(scratch / "all")], home),
            ("export --what all (jsonl, zip)", ["audit", "export", "--what", "all", "-q",
                                                "--format", "jsonl",
                                                "--out", str(scratch / "all.zip")], home),
            ("verify-export of all (empty RA_HOME)",
             ["audit", "verify-export", str(scratch / "all")], scratch / "nowhere"),
        ]
        for label, ra_args, ra_home in runs:
            measured = []
            for _ in range(args.repeat):
                if "--out" in ra_args:  # a bundle from the run before: write it anew
                    _remove(Path(ra_args[ra_args.index("--out") + 1]))
                measured.append(run_ra(ra_args, ra_home))
            seconds, peak, cpu = (statistics.median(m[i] for m in measured) for i in range(3))
            lines.append(f"{label:<40} {seconds:7.1f} s   cpu {cpu:5.1f} s   peak {peak:6.0f} MiB"
                         f"   (median of {len(measured)})")
            print(lines[-1], flush=True)
        lines.append(f"(python {sys.version.split()[0]}, {machine()}, load "
                     f"{os.getloadavg()[0]:.1f}; targets at 1,000,000 events: < 30 s, < 500 MB)")
        print(lines[-1])
        RESULTS.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        (RESULTS / f"export-{stamp}.txt").write_text("\n".join(lines) + "\n")
    finally:
        if args.keep:
            for made in (scratch / "consent", scratch / "all", scratch / "all.zip"):
                _remove(made)
            print(f"kept the log in {home}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


def machine() -> str:
    """The cores and the CPU model (from /proc/cpuinfo), for the record."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {model}"


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


__all__ = ["generate", "machine", "main", "run_ra"]
