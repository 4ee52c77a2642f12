"""``python -m bench [store|desktop|recording|link|video|profile|startup|export|report] [options]``.

See `bench/__init__.py`.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    suite = args.pop(0) if args and not args[0].startswith("-") else "all"
    if suite in ("-h", "--help", "help"):
        print(__doc__)
        return 0
    if suite == "all":
        # Every benchmark suite (there is one so far); options go to each.
        from bench import store

        return store.main(args)
    if suite == "store":
        from bench import store

        return store.main(args)
    if suite == "desktop":
        from bench import desktop

        return desktop.main(args)
    if suite == "recording":
        from bench import recording

        return recording.main(args)
    if suite == "link":
        from bench import link

        return link.main(args)
    if suite == "video":
        from bench import video

        return video.main(args)
    if suite == "startup":
        from bench import startup

        return startup.main(args)
    if suite == "export":
        from bench import export

        return export.main(args)
    if suite == "report":
        from bench import report

        return report.main(args)
    if suite == "profile":
        from bench import hotpaths

        return hotpaths.main(args)
    if suite == "worker":  # internal: one measurement in a fresh process
        from bench import store

        return store.worker_main(args)
    print(f"bench: unknown suite {suite!r} "
          "(use: store, desktop, recording, link, video, profile, startup, export, report)",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
