"""Names a package re-exports, imported on first use.

`ra --help` builds its command tree on every start; a package whose
`__init__` imported every module it re-exports would load the log, the
signing and the mail stacks for it. Such a package maps each name to the
module that defines it and sets ``__getattr__ = lazy_names(globals(), WHERE)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_names(namespace: dict[str, Any], where: Mapping[str, str]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports `name` from ``where[name]`` once, then keeps it."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__


__all__ = ["lazy_names"]
