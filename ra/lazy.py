"""Names a package re-exports, imported on first use.

`ra --help` builds its command tree on every start; a package whose
`__init__` imported every module it re-exports would load the log, the
signing and the mail stacks for it. Such a package imports its names only
for the type checker (``if TYPE_CHECKING:``; pyproject.toml lets the type
checker re-export them), and sets ``__getattr__ = lazy_names(globals(),
{module: names})``: a name is imported from its module when first asked for.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any


def lazy_names(namespace: dict[str, Any],
               modules: Mapping[str, Sequence[str]]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that imports `name` once from the module that lists it
    in `modules`, then keeps it; it also sets the package's ``__all__``."""
    where = {name: module for module, names in modules.items() for name in names}
    namespace["__all__"] = list(where)

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {namespace['__name__']!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__


__all__ = ["lazy_names"]
