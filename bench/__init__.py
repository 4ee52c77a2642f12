"""Benchmarks for ra.

``python -m bench`` runs every suite; ``python -m bench store [--quick]`` runs
the event-store suite (ra's store side by side with raw ``sqlite3`` and the
``eventsourcing`` library's SQLite recorder); ``python -m bench profile``
runs cProfile and timing splits over ra's append, verify and rebuild hot
paths (`bench/hotpaths.py`); ``python -m bench startup`` times `ra`'s start
(``ra --help``, ``ra invite list`` beside ``python -c pass``, `bench/startup.py`).
Results land in ``bench/results/`` (gitignored); see ``BENCHMARKS.md``.
"""
