"""``python -m bench [SUITE] [options]``: one benchmark suite (``store`` if none is named).

See `bench/__init__.py`; BENCHMARKS.md has each suite's method and results.
"""

from __future__ import annotations

import importlib
import sys

#: suite: (module in bench, its entry point). "worker" is internal: one store
#: measurement in a fresh process.
SUITES = {
    "store": ("store", "main"),
    "desktop": ("desktop", "main"),
    "recording": ("recording", "main"),
    "link": ("link", "main"),
    "page": ("page", "main"),
    "video": ("video", "main"),
    "profile": ("hotpaths", "main"),
    "startup": ("startup", "main"),
    "export": ("export", "main"),
    "report": ("report", "main"),
    "worker": ("store", "worker_main"),
}
PUBLIC = [name for name in SUITES if name != "worker"]


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] in (["-h"], ["--help"], ["help"]):
        print(__doc__ + "\nsuites: " + ", ".join(PUBLIC))
        return 0
    suite = args.pop(0) if args and not args[0].startswith("-") else "store"
    if suite == "all":  # what `make bench` has always run
        suite = "store"
    if suite not in SUITES:
        print(f"bench: unknown suite {suite!r} (use: {', '.join(PUBLIC)})", file=sys.stderr)
        return 2
    module, entry = SUITES[suite]
    run = getattr(importlib.import_module(f"bench.{module}"), entry)
    return int(run(args))


if __name__ == "__main__":
    sys.exit(main())
