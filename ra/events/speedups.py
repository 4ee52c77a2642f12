"""The optional C loops of the append path (`ra/events/_speedups.c`).

`stamp_now`, the UUIDv7 runs, `encode_batch`, the first test of
`NewEvent.validate` and `Frontier.extend` use them when they were built
(``pip install`` builds them where a C compiler is at hand, and installs ra
without them where not). The Python functions stay the definition: they
run otherwise, and for whatever the C declines (a payload orjson will not
write, a number past 64 bits, text that is not valid Unicode).
``RA_PURE_PYTHON=1`` in the environment turns the C off; the tests run both
and compare them. Verification takes only the text check of a run of rows
from them (`run_check`); it hashes with hashlib (OpenSSL), so the log is
checked by another SHA-256 than the one that wrote its leaf hashes.
"""

from __future__ import annotations

import os
from typing import Any


def _load() -> Any:
    if os.environ.get("RA_PURE_PYTHON"):
        return None
    try:
        import orjson  # noqa: F401  (the C writes payloads with it)

        from ra.events import _speedups as module  # type: ignore[attr-defined]
    except ImportError:
        return None
    return module


#: The C module, or None (not built, or turned off). `ra.events.model`
#: configures it on import; `extend` and `sha256` need nothing.
speedups: Any = _load()
